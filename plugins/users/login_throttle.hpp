// Login throttling per email and per client address, and sign-up throttling
// per address. The counters live in PostgreSQL (users_login_throttle), so
// every host sharing the database enforces the same limits.
//
// An attempt is counted before the password is checked, in one atomic
// statement that also refuses it when its key is locked or its allowance is
// used up (admit): parallel guesses cannot overshoot the limit, since each
// one takes its place in the count before argon2 runs. The outcome then
// settles it: a wrong password keeps the count and locks the key for one
// window once the count reaches the limit (fail); a right one gives the
// email's allowance back and returns the address's place (succeed). A
// refused attempt is not counted.
#pragma once

#include <cstdint>
#include <oms/plugin.hpp>
#include <optional>
#include <string>

namespace users {

struct ThrottlePolicy {
    int64_t max_failures_per_email = 5;
    int64_t max_failures_per_address = 20;
    int64_t window_seconds = 900;  // failures count within it; a lock lasts one window
    int64_t max_signups_per_address = 20;
    int64_t signup_window_seconds = 3600;
};

class LoginThrottle {
public:
    explicit LoginThrottle(ThrottlePolicy policy) : policy_(policy) {}

    // Counts a login attempt for the email and the address in `tx` (commit
    // it before the password is checked, whatever the answer). Returns the
    // seconds to wait when it is refused (and then counts nothing); nullopt
    // when the attempt may go on.
    std::optional<int64_t> admit_login(oms::Tx& tx, const std::string& email_key, const std::string& address) const;
    // The admitted attempt had a wrong password (or no such account).
    void fail_login(const std::string& email_key, const std::string& address) const;
    // The admitted attempt was not checked after all (the host was busy).
    void cancel_login(const std::string& email_key, const std::string& address) const;
    // The admitted attempt succeeded, in the login's transaction.
    void succeed_login(oms::Tx& tx, const std::string& email_key, const std::string& address) const;

    // Counts an account creation from `address` in `tx` (commit it, whatever
    // the answer); the seconds to wait when the address is over its allowance.
    std::optional<int64_t> admit_signup(oms::Tx& tx, const std::string& address) const;

    // Drops rows whose window and lock are over.
    void purge_expired() const;

    const ThrottlePolicy& policy() const { return policy_; }

private:
    ThrottlePolicy policy_;
};

}  // namespace users
