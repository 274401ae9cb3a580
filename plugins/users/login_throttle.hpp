// Failed-login throttling per email and per client address. The counters
// live in PostgreSQL (users_login_throttle), so every host sharing the
// database enforces the same limits.
#pragma once

#include <cstdint>
#include <optional>
#include <oms/plugin.hpp>
#include <string>

namespace users {

struct ThrottlePolicy {
    int64_t max_failures_per_email = 5;
    int64_t max_failures_per_address = 20;
    int64_t window_seconds = 900;  // failures count within it; a lock lasts one window
};

class LoginThrottle {
public:
    explicit LoginThrottle(ThrottlePolicy policy) : policy_(policy) {}

    // Seconds until the email or address may try again; nullopt when neither is locked.
    std::optional<int64_t> retry_after(oms::Tx& tx, const std::string& email_key, const std::string& address) const;
    // Counts one failure for both keys, in its own committed transaction: the
    // login request itself answers 401 and is rolled back.
    void record_failure(const std::string& email_key, const std::string& address) const;
    // A successful login forgets the email's failures (not the address's).
    void clear_email(oms::Tx& tx, const std::string& email_key) const;
    // Drops rows whose window and lock are over.
    void purge_expired() const;

    const ThrottlePolicy& policy() const { return policy_; }

private:
    ThrottlePolicy policy_;
};

}  // namespace users
