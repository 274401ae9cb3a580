#include "config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <arpa/inet.h>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

namespace oms::host {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

// The non-empty, trimmed items of "a, b,c".
std::vector<std::string> comma_list(std::string_view list) {
    std::vector<std::string> out;
    while (!list.empty()) {
        size_t comma = list.find(',');
        std::string_view item = trim(list.substr(0, comma));
        if (!item.empty()) out.emplace_back(item);
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    }
    return out;
}

std::map<std::string, std::string, std::less<>> read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw ConfigError("cannot read configuration file " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    auto m = parse_env_text(ss.str(), path);
    return {m.begin(), m.end()};
}

std::mutex intern_mutex;

bool valid_key(std::string_view k) {
    if (k.empty() || std::isdigit(static_cast<unsigned char>(k[0]))) return false;
    return std::all_of(k.begin(), k.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

}  // namespace

std::map<std::string, std::string> parse_env_text(std::string_view text, const std::string& origin) {
    std::map<std::string, std::string> out;
    size_t line_no = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        ++line_no;
        line = trim(line);
        if (line.empty() || line.front() == '#') continue;
        if (line.substr(0, 7) == "export ") line = trim(line.substr(7));
        size_t eq = line.find('=');
        std::string_view key = eq == std::string_view::npos ? line : trim(line.substr(0, eq));
        if (eq == std::string_view::npos || !valid_key(key))
            throw ConfigError(origin + ":" + std::to_string(line_no) + ": expected KEY=VALUE");
        std::string_view value = trim(line.substr(eq + 1));
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
            value = value.substr(1, value.size() - 2);
        } else if (!value.empty() && (value.front() == '"' || value.front() == '\'')) {
            throw ConfigError(origin + ":" + std::to_string(line_no) + ": unterminated quote");
        } else {
            size_t hash = value.find(" #");  // inline comment after an unquoted value
            if (hash != std::string_view::npos) value = trim(value.substr(0, hash));
        }
        out[std::string(key)] = std::string(value);
    }
    return out;
}

std::optional<int64_t> parse_duration_seconds(std::string_view text) {
    text = trim(text);
    if (text.empty()) return std::nullopt;
    int64_t unit = 1;
    switch (text.back()) {
        case 's': unit = 1; text.remove_suffix(1); break;
        case 'm': unit = 60; text.remove_suffix(1); break;
        case 'h': unit = 3600; text.remove_suffix(1); break;
        case 'd': unit = 86400; text.remove_suffix(1); break;
        default: break;
    }
    int64_t n = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || p != text.data() + text.size() || n <= 0 || n > 10LL * 365 * 86400 / unit)
        return std::nullopt;
    return n * unit;
}

Config Config::load(const std::optional<std::string>& config_file) {
    Config c;
    std::string file;
    if (config_file) file = *config_file;
    else if (const char* e = std::getenv("OMS_CONFIG"); e && *e) file = e;
    else if (std::filesystem::exists("etc/oms.conf")) file = "etc/oms.conf";
    if (!file.empty()) {
        c.file_ = read_file(file);
        c.sources_.push_back(file);
    }
    std::string dotenv;
    if (const char* e = std::getenv("OMS_DOTENV"); e && *e) dotenv = e;
    else if (std::filesystem::exists(".env")) dotenv = ".env";
    if (!dotenv.empty()) {
        c.dotenv_ = read_file(dotenv);
        c.sources_.push_back(dotenv);
    }
    return c;
}

Config Config::from_map(std::map<std::string, std::string> values) {
    Config c;
    c.use_environment_ = false;
    c.overrides_ = {values.begin(), values.end()};
    return c;
}

const std::string* Config::find(std::string_view key) const {
    std::lock_guard lock(intern_mutex);
    std::string k(key);
    const std::string* found = nullptr;
    if (auto it = overrides_.find(key); it != overrides_.end()) found = &it->second;
    if (!found && use_environment_) {
        if (const char* e = std::getenv(k.c_str())) {
            // The environment does not change while we run; intern once so the
            // pointer handed to plugins stays valid.
            auto [it, _] = interned_.try_emplace(k, e);
            return &it->second;
        }
    }
    if (!found) {
        if (auto it = dotenv_.find(key); it != dotenv_.end()) found = &it->second;
        else if (auto it2 = file_.find(key); it2 != file_.end()) found = &it2->second;
    }
    return found;
}

std::string Config::get(std::string_view key, std::string_view fallback) const {
    const std::string* v = find(key);
    return v ? *v : std::string(fallback);
}

std::string Config::database_url() const {
    std::string url = get("DATABASE_URL");
    if (url.empty())
        throw ConfigError("DATABASE_URL is not set (expected postgresql://user:pass@host:port/db)");
    if (url.rfind("postgresql://", 0) != 0 && url.rfind("postgres://", 0) != 0)
        throw ConfigError("DATABASE_URL must start with postgresql:// (got a value of another scheme)");
    return url;
}

namespace {
int64_t parse_int(const Config& c, std::string_view key, int64_t fallback, int64_t lo, int64_t hi) {
    const std::string* v = c.find(key);
    if (!v || v->empty()) return fallback;
    int64_t n = 0;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || p != v->data() + v->size() || n < lo || n > hi)
        throw ConfigError(std::string(key) + " must be an integer from " + std::to_string(lo) + " to " +
                          std::to_string(hi) + " (got '" + *v + "')");
    return n;
}
bool parse_bool(const Config& c, std::string_view key, bool fallback) {
    const std::string* v = c.find(key);
    if (!v || v->empty()) return fallback;
    if (*v == "1" || *v == "true" || *v == "yes" || *v == "on") return true;
    if (*v == "0" || *v == "false" || *v == "no" || *v == "off") return false;
    throw ConfigError(std::string(key) + " must be true or false (got '" + *v + "')");
}
}  // namespace

uint16_t Config::port() const { return static_cast<uint16_t>(parse_int(*this, "PORT", 3000, 0, 65535)); }
std::string Config::bind_address() const { return get("OMS_BIND", "0.0.0.0"); }

bool Config::production() const {
    std::string env = get("OMS_ENV", "development");
    if (env == "production") return true;
    if (env == "development" || env == "test") return false;
    throw ConfigError("OMS_ENV must be development or production (got '" + env + "')");
}

int64_t Config::jwt_expires_in() const {
    const std::string* v = find("JWT_EXPIRES_IN");
    if (!v || v->empty()) return 7 * 86400;
    auto s = parse_duration_seconds(*v);
    if (!s) throw ConfigError("JWT_EXPIRES_IN must be a duration like 7d, 12h, 30m or seconds (got '" + *v + "')");
    return *s;
}

int Config::workers() const { return static_cast<int>(parse_int(*this, "OMS_WORKERS", 8, 1, 256)); }
size_t Config::body_limit() const {
    return static_cast<size_t>(parse_int(*this, "OMS_BODY_LIMIT", 1 << 20, 1024, 64LL << 20));
}

std::string Config::log_level() const {
    std::string l = get("LOG_LEVEL", "info");
    static const char* levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    for (auto* x : levels)
        if (l == x) return l;
    throw ConfigError("LOG_LEVEL must be one of trace, debug, info, warn, error, critical, off (got '" + l + "')");
}

bool Config::log_json() const {
    std::string f = get("LOG_FORMAT", "json");
    if (f == "json") return true;
    if (f == "text") return false;
    throw ConfigError("LOG_FORMAT must be json or text (got '" + f + "')");
}

std::chrono::milliseconds Config::shutdown_timeout() const {
    return std::chrono::milliseconds(parse_int(*this, "OMS_SHUTDOWN_TIMEOUT_MS", 20000, 0, 600000));
}

bool Config::auto_migrate() const { return parse_bool(*this, "OMS_AUTO_MIGRATE", true); }
bool Config::contract_checks() const { return parse_bool(*this, "OMS_CONTRACT_CHECKS", !production()); }

std::chrono::seconds Config::idempotency_retention() const {
    return std::chrono::seconds(parse_int(*this, "OMS_IDEMPOTENCY_RETENTION", 86400, 86400, 90LL * 86400));
}

std::chrono::milliseconds Config::statement_timeout() const {
    return std::chrono::milliseconds(parse_int(*this, "OMS_DB_STATEMENT_TIMEOUT_MS", 30000, 100, 3600000));
}

std::chrono::seconds Config::db_wait() const {
    return std::chrono::seconds(parse_int(*this, "OMS_DB_WAIT_SECONDS", 30, 0, 3600));
}

namespace {
// An origin as browsers send it: scheme "://" host [":" port], nothing after.
std::optional<std::string> origin_error(std::string_view o) {
    auto sep = o.find("://");
    if (sep == std::string_view::npos || sep == 0) return "is not an origin like https://shop.example.com";
    for (char c : o.substr(0, sep))
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.'))
            return "has an invalid scheme";
    std::string_view rest = o.substr(sep + 3);
    if (rest.empty()) return "has no host";
    if (rest.find_first_of("/?#") != std::string_view::npos)
        return "must not have a path, query or trailing slash (an origin is scheme://host[:port])";
    for (char c : o)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '*') return "contains a space or a wildcard";
    return std::nullopt;
}
}  // namespace

bool CorsPolicy::allows(std::string_view origin) const {
    if (any) return true;
    for (const auto& o : origins)
        if (o == origin) return true;
    return false;
}

CorsPolicy Config::cors() const {
    CorsPolicy p;
    p.max_age = static_cast<int>(parse_int(*this, "OMS_CORS_MAX_AGE", 600, 0, 86400));
    std::string list = get("OMS_CORS_ORIGINS");
    for (const auto& item : comma_list(list)) {
        if (item == "*") p.any = true;
        else {
            if (auto why = origin_error(item))
                throw ConfigError("OMS_CORS_ORIGINS: '" + item + "' " + *why);
            p.origins.push_back(item);
        }
    }
    if (p.any && !p.origins.empty())
        throw ConfigError("OMS_CORS_ORIGINS is either * or a comma list of origins, not both (got '" + list + "')");
    return p;
}

namespace {

// An address in `family`'s bytes; false when it is not one.
bool parse_address(std::string_view text, int& family, unsigned char* bytes) {
    std::string t(text);
    if (inet_pton(AF_INET, t.c_str(), bytes) == 1) {
        family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, t.c_str(), bytes) == 1) {
        family = AF_INET6;
        return true;
    }
    return false;
}

}  // namespace

bool TrustedProxies::contains(std::string_view address) const {
    unsigned char bytes[16]{};
    int family = 0;
    if (!parse_address(address, family, bytes)) return false;
    for (const auto& r : ranges) {
        if (r.family != family) continue;
        int full = r.prefix / 8, rest = r.prefix % 8;
        if (std::memcmp(bytes, r.bytes, static_cast<size_t>(full)) != 0) continue;
        if (rest && ((bytes[full] ^ r.bytes[full]) & static_cast<unsigned char>(0xff << (8 - rest)))) continue;
        return true;
    }
    return false;
}

std::string TrustedProxies::client_address(const std::string& peer, const std::string* forwarded_for) const {
    if (!forwarded_for || !contains(peer)) return peer;
    // Right to left: each trusted proxy appended the address it received from.
    std::string_view list = *forwarded_for;
    std::string client = peer;
    while (!list.empty()) {
        size_t comma = list.rfind(',');
        std::string_view item = trim(comma == std::string_view::npos ? list : list.substr(comma + 1));
        list = comma == std::string_view::npos ? std::string_view() : list.substr(0, comma);
        unsigned char bytes[16]{};
        int family = 0;
        if (!parse_address(item, family, bytes)) break;  // garbage: trust what we have
        client = std::string(item);
        if (!contains(item)) break;
    }
    return client;
}

TrustedProxies Config::trusted_proxies() const {
    TrustedProxies t;
    for (const auto& item : comma_list(get("OMS_TRUSTED_PROXIES"))) {
        TrustedProxies::Range r;
        size_t slash = item.find('/');
        std::string address = item.substr(0, slash);
        if (!parse_address(address, r.family, r.bytes))
            throw ConfigError("OMS_TRUSTED_PROXIES: '" + item + "' is not an IP address or CIDR range");
        int max = r.family == AF_INET ? 32 : 128;
        r.prefix = max;
        if (slash != std::string::npos) {
            std::string bits = item.substr(slash + 1);
            auto [p, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), r.prefix);
            if (ec != std::errc() || p != bits.data() + bits.size() || bits.empty() || r.prefix < 0 || r.prefix > max)
                throw ConfigError("OMS_TRUSTED_PROXIES: '" + item + "' has a bad prefix length");
        }
        t.ranges.push_back(r);
    }
    return t;
}

RateLimitPolicy Config::rate_limit() const {
    RateLimitPolicy p;
    p.rps = parse_int(*this, "OMS_RATE_LIMIT_RPS", 0, 0, 1000000);
    p.burst = parse_int(*this, "OMS_RATE_LIMIT_BURST", std::max<int64_t>(1, 2 * p.rps), 1, 10000000);
    return p;
}

size_t Config::caller_cache_size() const {
    return static_cast<size_t>(parse_int(*this, "OMS_CALLER_CACHE_SIZE", 100000, 1, 10000000));
}

std::chrono::seconds Config::caller_cache_ttl() const {
    return std::chrono::seconds(parse_int(*this, "OMS_CALLER_CACHE_TTL", 5, 0, 3600));
}

int Config::task_threads() const { return static_cast<int>(parse_int(*this, "OMS_TASK_THREADS", 2, 0, 64)); }
std::chrono::milliseconds Config::task_poll() const {
    return std::chrono::milliseconds(parse_int(*this, "OMS_TASK_POLL_MS", 1000, 10, 3600000));
}
std::chrono::milliseconds Config::task_retry() const {
    return std::chrono::milliseconds(parse_int(*this, "OMS_TASK_RETRY_MS", 1000, 10, 3600000));
}
std::chrono::seconds Config::task_lease() const {
    return std::chrono::seconds(parse_int(*this, "OMS_TASK_LEASE_S", 120, 5, 86400));
}
int Config::task_max_attempts() const {
    return static_cast<int>(parse_int(*this, "OMS_TASK_MAX_ATTEMPTS", 25, 1, 1000));
}

void Config::validate_for_serving() const {
    (void)database_url();
    (void)port();
    (void)workers();
    (void)body_limit();
    (void)log_level();
    (void)log_json();
    (void)shutdown_timeout();
    (void)auto_migrate();
    (void)contract_checks();
    (void)db_wait();
    (void)statement_timeout();
    (void)idempotency_retention();
    (void)cors();
    (void)trusted_proxies();
    (void)rate_limit();
    (void)caller_cache_size();
    (void)caller_cache_ttl();
    (void)task_threads();
    (void)task_poll();
    (void)task_retry();
    (void)task_lease();
    (void)task_max_attempts();
    (void)jwt_expires_in();
    bool prod = production();
    const std::string* secret = find("JWT_SECRET");
    if (prod && (!secret || secret->size() < 32))
        throw ConfigError("JWT_SECRET must be set to at least 32 bytes when OMS_ENV=production");
}

}  // namespace oms::host
