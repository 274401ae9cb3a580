// Configuration: environment variables win over a .env file, which wins over
// the config file (etc/oms.conf). All three use KEY=VALUE lines.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace oms::host {

// A configuration problem: printed as one line, exit code 2.
struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Parses KEY=VALUE text (comments with #, optional `export `, single or double
// quotes). Throws ConfigError naming `origin` and the line on a syntax error.
std::map<std::string, std::string> parse_env_text(std::string_view text, const std::string& origin);

// "7d", "12h", "30m", "45s" or plain seconds → seconds.
std::optional<int64_t> parse_duration_seconds(std::string_view text);

// Which browser origins may call the API (OMS_CORS_ORIGINS, OMS_CORS_MAX_AGE).
struct CorsPolicy {
    bool any = false;                  // "*": every origin
    std::vector<std::string> origins;  // exact "scheme://host[:port]" values
    int max_age = 600;                 // seconds a browser may cache a preflight answer
    bool enabled() const { return any || !origins.empty(); }
    bool allows(std::string_view origin) const;
};

// The proxies in front of the host (OMS_TRUSTED_PROXIES: CIDR ranges such as
// 127.0.0.1/32, 10.0.0.0/8, ::1/128). A request from one of them is taken to
// come from the right-most X-Forwarded-For address that is not itself a
// trusted proxy; from anyone else, X-Forwarded-For is ignored (it is the
// client's to forge).
struct TrustedProxies {
    struct Range {
        int family = 0;           // AF_INET or AF_INET6
        unsigned char bytes[16]{};
        int prefix = 0;
    };
    std::vector<Range> ranges;
    bool enabled() const { return !ranges.empty(); }
    bool contains(std::string_view address) const;
    // The client's address for a request from `peer` carrying `forwarded_for`
    // (the X-Forwarded-For value, or null).
    std::string client_address(const std::string& peer, const std::string* forwarded_for) const;
};

// Requests per second per client address (OMS_RATE_LIMIT_RPS, OMS_RATE_LIMIT_BURST); 0 = off.
struct RateLimitPolicy {
    int64_t rps = 0;
    int64_t burst = 0;  // bucket size: requests a client may send at once
    bool enabled() const { return rps > 0; }
};

class Config {
public:
    // Reads the config file (OMS_CONFIG, else etc/oms.conf when present) and
    // .env (OMS_DOTENV, else ./.env when present). `config_file` overrides OMS_CONFIG.
    static Config load(const std::optional<std::string>& config_file = std::nullopt);
    // For tests: only the given values.
    static Config from_map(std::map<std::string, std::string> values);

    // Lookup in precedence order; the returned pointer stays valid (values are
    // interned for the process lifetime, plugins keep them).
    const std::string* find(std::string_view key) const;
    std::string get(std::string_view key, std::string_view fallback = {}) const;

    // Typed views, validated by validate(). Each throws ConfigError with one clear line.
    std::string database_url() const;  // required for anything that touches the database
    uint16_t port() const;
    std::string bind_address() const;
    bool production() const;
    int64_t jwt_expires_in() const;
    int workers() const;
    size_t body_limit() const;
    std::string log_level() const;
    bool log_json() const;
    std::chrono::milliseconds shutdown_timeout() const;
    bool auto_migrate() const;
    // OMS_CONTRACT_CHECKS: hold publishes and service calls to the plugins'
    // declared contracts (default: on, except when OMS_ENV=production).
    bool contract_checks() const;
    std::chrono::seconds db_wait() const;
    std::chrono::milliseconds statement_timeout() const;  // OMS_DB_STATEMENT_TIMEOUT_MS (migrations: none)
    std::chrono::seconds idempotency_retention() const;  // how long Idempotency-Key answers are kept
    CorsPolicy cors() const;
    TrustedProxies trusted_proxies() const;
    RateLimitPolicy rate_limit() const;
    // The per-host cache of oms.resolve_caller answers: entries (OMS_CALLER_CACHE_SIZE)
    // and their lifetime (OMS_CALLER_CACHE_TTL, seconds; 0 turns the cache off).
    size_t caller_cache_size() const;
    std::chrono::seconds caller_cache_ttl() const;
    // Tasks (the outbox, tasks.hpp): threads per host (OMS_TASK_THREADS, 0 = this
    // host runs none), how often they look for due tasks another host stored
    // (OMS_TASK_POLL_MS), the first retry's delay, doubling
    // (OMS_TASK_RETRY_MS), a claim's lease (OMS_TASK_LEASE_S: longer than any
    // handler runs) and the default number of runs (OMS_TASK_MAX_ATTEMPTS).
    int task_threads() const;
    std::chrono::milliseconds task_poll() const;
    std::chrono::milliseconds task_retry() const;
    std::chrono::seconds task_lease() const;
    int task_max_attempts() const;

    // Checks every value the host reads; throws ConfigError on the first bad one.
    void validate_for_serving() const;

    const std::vector<std::string>& sources() const { return sources_; }

private:
    std::map<std::string, std::string, std::less<>> file_;
    std::map<std::string, std::string, std::less<>> dotenv_;
    std::map<std::string, std::string, std::less<>> overrides_;  // from_map
    bool use_environment_ = true;
    std::vector<std::string> sources_;
    mutable std::map<std::string, std::string, std::less<>> interned_;
};

}  // namespace oms::host
