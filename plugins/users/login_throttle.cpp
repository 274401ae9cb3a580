#include "login_throttle.hpp"

namespace users {

std::optional<int64_t> LoginThrottle::retry_after(oms::Tx& tx, const std::string& email_key,
                                                  const std::string& address) const {
    auto res = tx.query(
        "SELECT ceil(extract(epoch FROM max(locked_until) - now()))::bigint AS seconds "
        "FROM users_login_throttle "
        "WHERE ((scope = 'email' AND key = $1) OR (scope = 'address' AND key = $2)) AND locked_until > now()",
        email_key, address);
    auto seconds = res.at(0).get_optional<int64_t>("seconds");
    if (!seconds) return std::nullopt;
    return std::max<int64_t>(1, *seconds);
}

void LoginThrottle::record_failure(const std::string& email_key, const std::string& address) const {
    // One atomic upsert per key: a window that has passed starts over at 1;
    // reaching the limit locks the key until one window from now.
    static constexpr const char* kCount =
        "INSERT INTO users_login_throttle AS t (scope, key, failures, window_started_at, locked_until) "
        "VALUES ($1, $2, 1, now(), CASE WHEN $4::int <= 1 THEN now() + make_interval(secs => $3::int) END) "
        "ON CONFLICT (scope, key) DO UPDATE SET "
        "  failures = CASE WHEN t.window_started_at <= now() - make_interval(secs => $3::int) "
        "                  THEN 1 ELSE t.failures + 1 END, "
        "  window_started_at = CASE WHEN t.window_started_at <= now() - make_interval(secs => $3::int) "
        "                           THEN now() ELSE t.window_started_at END, "
        "  locked_until = CASE WHEN (CASE WHEN t.window_started_at <= now() - make_interval(secs => $3::int) "
        "                                 THEN 1 ELSE t.failures + 1 END) >= $4::int "
        "                      THEN now() + make_interval(secs => $3::int) ELSE t.locked_until END";
    auto tx = oms::Tx::begin();
    tx.exec(kCount, std::string("email"), email_key, policy_.window_seconds, policy_.max_failures_per_email);
    tx.exec(kCount, std::string("address"), address, policy_.window_seconds, policy_.max_failures_per_address);
    tx.commit();
}

void LoginThrottle::clear_email(oms::Tx& tx, const std::string& email_key) const {
    tx.exec("DELETE FROM users_login_throttle WHERE scope = 'email' AND key = $1", email_key);
}

void LoginThrottle::purge_expired() const {
    auto tx = oms::Tx::begin();
    tx.exec(
        "DELETE FROM users_login_throttle "
        "WHERE window_started_at <= now() - make_interval(secs => $1::int) "
        "  AND (locked_until IS NULL OR locked_until <= now())",
        policy_.window_seconds);
    tx.commit();
}

}  // namespace users
