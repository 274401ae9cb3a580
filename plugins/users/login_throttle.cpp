#include "login_throttle.hpp"

#include <algorithm>

namespace users {
namespace {

// Counts one attempt for each (scope, key) of the arrays $1/$2, with the
// windows $3 and limits $4, unless the key is locked or its count already
// reached the limit; a window that has passed (and holds no lock) starts over.
// Returns, per key, whether it was counted and how long a refusal must wait.
// One statement: concurrent attempts on a key queue on its row.
constexpr const char* kAdmit =
    "WITH asked AS ("
    "  SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[]) AS a(scope, key, window_s, max_n)), "
    "counted AS ("
    "  INSERT INTO users_login_throttle AS t (scope, key, failures, window_started_at) "
    "  SELECT scope, key, 1, now() FROM asked "
    "  ON CONFLICT (scope, key) DO UPDATE SET "
    "    failures = CASE "
    "      WHEN t.locked_until > now() THEN t.failures "
    "      WHEN t.window_started_at <= now() - make_interval(secs => (SELECT window_s FROM asked a "
    "           WHERE a.scope = t.scope AND a.key = t.key)) THEN 1 "
    "      WHEN t.failures >= (SELECT max_n FROM asked a WHERE a.scope = t.scope AND a.key = t.key) THEN t.failures "
    "      ELSE t.failures + 1 END, "
    "    window_started_at = CASE "
    "      WHEN t.locked_until > now() THEN t.window_started_at "
    "      WHEN t.window_started_at <= now() - make_interval(secs => (SELECT window_s FROM asked a "
    "           WHERE a.scope = t.scope AND a.key = t.key)) THEN now() "
    "      ELSE t.window_started_at END, "
    "    locked_until = CASE WHEN t.locked_until > now() THEN t.locked_until END, "
    "    last_admitted = CASE "
    "      WHEN t.locked_until > now() THEN false "
    "      WHEN t.window_started_at <= now() - make_interval(secs => (SELECT window_s FROM asked a "
    "           WHERE a.scope = t.scope AND a.key = t.key)) THEN true "
    "      ELSE t.failures < (SELECT max_n FROM asked a WHERE a.scope = t.scope AND a.key = t.key) END "
    "  RETURNING t.scope, t.key, t.window_started_at, t.locked_until, t.last_admitted) "
    "SELECT c.scope, c.key, c.last_admitted, "
    "       ceil(extract(epoch FROM c.locked_until - now()))::bigint AS locked_for, "
    "       ceil(extract(epoch FROM c.window_started_at + make_interval(secs => a.window_s) - now()))::bigint "
    "         AS window_left "
    "FROM counted c JOIN asked a USING (scope, key)";

// An attempt given back (refused elsewhere, or a login that succeeded).
constexpr const char* kGiveBack =
    "UPDATE users_login_throttle SET failures = greatest(failures - 1, 0) WHERE scope = $1 AND key = $2";

// A wrong password: the count stays, and reaching the limit locks the key.
constexpr const char* kLockIfDue =
    "UPDATE users_login_throttle SET locked_until = now() + make_interval(secs => $3::int) "
    "WHERE scope = $1 AND key = $2 AND failures >= $4::int AND (locked_until IS NULL OR locked_until <= now())";

struct Key {
    std::string scope, key;
    int64_t window, max;
};

// Admits one attempt for every key, or for none: the seconds to wait when
// any key refuses (the keys that did count it give it back).
std::optional<int64_t> admit(oms::Tx& tx, const std::vector<Key>& keys) {
    std::vector<std::string> scopes, names;
    std::vector<int64_t> windows, maxima;
    for (const auto& k : keys) {
        scopes.push_back(k.scope);
        names.push_back(k.key);
        windows.push_back(k.window);
        maxima.push_back(k.max);
    }
    auto rows = tx.query(kAdmit, scopes, names, windows, maxima);
    std::optional<int64_t> wait;
    std::vector<std::pair<std::string, std::string>> counted;
    for (const auto& row : rows) {
        bool refused = !row.get<bool>("last_admitted");
        auto locked_for = row.get_optional<int64_t>("locked_for");
        if (refused) {
            int64_t w = locked_for && *locked_for > 0 ? *locked_for : row.get<int64_t>("window_left");
            wait = std::max<int64_t>(wait.value_or(1), std::max<int64_t>(1, w));
        } else {
            counted.emplace_back(row.get<std::string>("scope"), row.get<std::string>("key"));
        }
    }
    if (wait)
        for (const auto& [scope, key] : counted) tx.exec_later(kGiveBack, scope, key);
    return wait;
}

}  // namespace

std::optional<int64_t> LoginThrottle::admit_login(oms::Tx& tx, const std::string& email_key,
                                                  const std::string& address) const {
    return admit(tx, {{"email", email_key, policy_.window_seconds, policy_.max_failures_per_email},
                  {"address", address, policy_.window_seconds, policy_.max_failures_per_address}});
}

void LoginThrottle::fail_login(const std::string& email_key, const std::string& address) const {
    auto tx = oms::Tx::begin();
    tx.exec_later(kLockIfDue, std::string("email"), email_key, policy_.window_seconds, policy_.max_failures_per_email);
    tx.exec_later(kLockIfDue, std::string("address"), address, policy_.window_seconds,
                  policy_.max_failures_per_address);
    tx.commit();
}

void LoginThrottle::cancel_login(const std::string& email_key, const std::string& address) const {
    auto tx = oms::Tx::begin();
    tx.exec_later(kGiveBack, std::string("email"), email_key);
    tx.exec_later(kGiveBack, std::string("address"), address);
    tx.commit();
}

void LoginThrottle::succeed_login(oms::Tx& tx, const std::string& email_key, const std::string& address) const {
    tx.exec_later("DELETE FROM users_login_throttle WHERE scope = 'email' AND key = $1", email_key);
    tx.exec_later(kGiveBack, std::string("address"), address);
}

std::optional<int64_t> LoginThrottle::admit_signup(oms::Tx& tx, const std::string& address) const {
    return admit(tx, {{"signup", address, policy_.signup_window_seconds, policy_.max_signups_per_address}});
}

void LoginThrottle::purge_expired() const {
    auto tx = oms::Tx::begin();
    tx.exec(
        "DELETE FROM users_login_throttle "
        "WHERE window_started_at <= now() - make_interval(secs => CASE scope WHEN 'signup' THEN $2::int "
        "                                                              ELSE $1::int END) "
        "  AND (locked_until IS NULL OR locked_until <= now())",
        policy_.window_seconds, policy_.signup_window_seconds);
    tx.commit();
}

}  // namespace users
