#include "metrics.hpp"

#include <oms/abi.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "caller_cache.hpp"
#include "tasks.hpp"
#include "router.hpp"
#include "runtime.hpp"

#ifndef OMS_VERSION
#define OMS_VERSION "0.0.0"
#endif

namespace oms::host {
namespace {

constexpr int kMinStatus = 100, kMaxStatus = 599;
constexpr const char* kUnmatchedMethods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"};
constexpr int kUnmatchedCount = sizeof kUnmatchedMethods / sizeof *kUnmatchedMethods;

// Taken when the host's code is loaded, i.e. at process start.
const double g_process_start =
    std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

// Shortest text that reads back as `v`; bucket bounds in fixed notation ("0.0005", as is customary).
std::string number(double v, std::chars_format format = std::chars_format::general) {
    char buf[64];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v, format);
    return ec == std::errc() ? std::string(buf, p) : std::to_string(v);
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view name, std::string_view labels, std::string_view value) {
    out.append(name);
    if (!labels.empty()) out.append("{").append(labels).append("}");
    out.append(" ").append(value).append("\n");
}

void gauge(std::string& out, std::string_view name, std::string_view help, double value,
           std::string_view type = "gauge") {
    family(out, name, type, help);
    sample(out, name, "", number(value));
}

// Fields 14 and 15 of /proc/self/stat (utime, stime), after the parenthesised command.
std::optional<double> cpu_seconds() {
    std::ifstream in("/proc/self/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = stat.rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream fields(stat.substr(close + 2));
    std::string f;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i) {
        if (i == 14) utime = std::stoull(f);
        if (i == 15) stime = std::stoull(f);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::optional<double> resident_bytes() {
    std::ifstream in("/proc/self/statm");
    unsigned long long size = 0, resident = 0;
    if (!(in >> size >> resident)) return std::nullopt;
    return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double open_fds() {
    std::error_code ec;
    double n = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
        ++n;
    return n;
}

}  // namespace

std::string prometheus_label(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

struct alignas(64) HttpMetrics::Slot {
    std::string route, method;
    std::array<std::atomic<uint64_t>, kMaxStatus - kMinStatus + 1> by_status{};
    std::array<std::atomic<uint64_t>, kBuckets.size() + 1> buckets{};  // not cumulative; last is +Inf
    std::atomic<uint64_t> sum_ns{0};
};

HttpMetrics::HttpMetrics(const Router<RouteInfo>& router) {
    std::map<std::string, int> preflight_by_path;
    router.for_each([&](const std::string& method, const std::string& path, const RouteInfo& r) {
        if (route_slot_.size() <= r.id) {
            route_slot_.resize(r.id + 1, -1);
            preflight_slot_.resize(r.id + 1, -1);
        }
        auto slot = std::make_unique<Slot>();
        slot->route = path;
        slot->method = method;
        route_slot_[r.id] = static_cast<int>(slots_.size());
        slots_.push_back(std::move(slot));
    });
    router.for_each([&](const std::string&, const std::string& path, const RouteInfo& r) {
        auto [it, fresh] = preflight_by_path.emplace(path, static_cast<int>(slots_.size()));
        if (fresh) {
            auto slot = std::make_unique<Slot>();
            slot->route = path;
            slot->method = "OPTIONS";
            slots_.push_back(std::move(slot));
        }
        preflight_slot_[r.id] = it->second;
    });
    unmatched_base_ = static_cast<int>(slots_.size());
    for (const char* m : kUnmatchedMethods) {
        auto slot = std::make_unique<Slot>();
        slot->route = "unmatched";
        slot->method = m;
        slots_.push_back(std::move(slot));
    }
}

HttpMetrics::~HttpMetrics() = default;

int HttpMetrics::route_slot(const RouteInfo& route) const {
    return route.id < route_slot_.size() ? route_slot_[route.id] : -1;
}

int HttpMetrics::preflight_slot(const RouteInfo& route) const {
    return route.id < preflight_slot_.size() ? preflight_slot_[route.id] : -1;
}

int HttpMetrics::unmatched_slot(std::string_view method) const {
    for (int i = 0; i < kUnmatchedCount - 1; ++i)
        if (method == kUnmatchedMethods[i]) return unmatched_base_ + i;
    return unmatched_base_ + kUnmatchedCount - 1;
}

void HttpMetrics::observe(int slot, int status, std::chrono::nanoseconds elapsed) noexcept {
    if (slot < 0 || slot >= static_cast<int>(slots_.size())) return;
    Slot& s = *slots_[static_cast<size_t>(slot)];
    int code = std::clamp(status, kMinStatus, kMaxStatus);
    s.by_status[static_cast<size_t>(code - kMinStatus)].fetch_add(1, std::memory_order_relaxed);
    double seconds = std::chrono::duration<double>(elapsed).count();
    size_t b = 0;
    while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
    s.buckets[b].fetch_add(1, std::memory_order_relaxed);
    s.sum_ns.fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, elapsed.count())), std::memory_order_relaxed);
}

void HttpMetrics::add_gauge(std::string name, std::string help, std::function<double()> read) {
    gauges_.push_back({std::move(name), std::move(help), std::move(read)});
}

uint64_t HttpMetrics::requests(int slot, int status) const {
    if (slot < 0 || slot >= static_cast<int>(slots_.size()) || status < kMinStatus || status > kMaxStatus) return 0;
    return slots_[static_cast<size_t>(slot)]->by_status[static_cast<size_t>(status - kMinStatus)].load();
}

void HttpMetrics::render(std::string& out) const {
    family(out, "oms_http_requests_total", "counter",
           "HTTP requests answered, by route template (route=\"unmatched\" when no route matched), method and status.");
    for (const auto& s : slots_) {
        std::string labels = "route=\"" + prometheus_label(s->route) + "\",method=\"" + s->method + "\",status=\"";
        for (size_t i = 0; i < s->by_status.size(); ++i) {
            uint64_t n = s->by_status[i].load(std::memory_order_relaxed);
            if (n) sample(out, "oms_http_requests_total", labels + std::to_string(kMinStatus + i) + "\"", std::to_string(n));
        }
    }

    family(out, "oms_http_request_duration_seconds", "histogram",
           "Time from a parsed request to its response handed to the connection, by route template and method.");
    for (const auto& s : slots_) {
        std::array<uint64_t, kBuckets.size() + 1> counts;
        uint64_t total = 0;
        for (size_t b = 0; b < counts.size(); ++b) total += counts[b] = s->buckets[b].load(std::memory_order_relaxed);
        if (total == 0) continue;
        std::string labels = "route=\"" + prometheus_label(s->route) + "\",method=\"" + s->method + "\"";
        uint64_t cumulative = 0;
        for (size_t b = 0; b < counts.size(); ++b) {
            cumulative += counts[b];
            std::string le = b < kBuckets.size() ? number(kBuckets[b], std::chars_format::fixed) : "+Inf";
            sample(out, "oms_http_request_duration_seconds_bucket", labels + ",le=\"" + le + "\"",
                   std::to_string(cumulative));
        }
        sample(out, "oms_http_request_duration_seconds_sum", labels,
               number(static_cast<double>(s->sum_ns.load(std::memory_order_relaxed)) / 1e9));
        sample(out, "oms_http_request_duration_seconds_count", labels, std::to_string(total));
    }

    for (const auto& g : gauges_) gauge(out, g.name, g.help, g.read());
}

std::string render_metrics(Runtime& rt) {
    std::string out;
    out.reserve(16 * 1024);
    if (const HttpMetrics* http = rt.http_metrics()) http->render(out);

    if (rt.has_database()) {
        auto& db = rt.database();
        auto pool = db.pool_stats();
        auto stats = db.stats();
        gauge(out, "oms_db_pool_size", "Database connections the pool may open (Poco SessionPool capacity).",
              pool.capacity);
        gauge(out, "oms_db_pool_open", "Database connections open now (in use or idle).", pool.allocated);
        gauge(out, "oms_db_pool_in_use", "Database connections handed out to requests and jobs.", pool.used);
        gauge(out, "oms_db_pool_idle", "Open database connections waiting in the pool.", pool.idle);
        gauge(out, "oms_db_errors_total", "Database operations that failed (SQL errors and lost connections).",
              static_cast<double>(stats.errors), "counter");
        gauge(out, "oms_db_connections_dropped_total",
              "Pooled connections found broken (e.g. after a PostgreSQL restart) and discarded.",
              static_cast<double>(stats.connections_dropped), "counter");
    }

    if (const CallerCache* cache = rt.caller_cache()) {
        gauge(out, "oms_caller_cache_hits_total", "Authenticated requests whose caller came from the cache.",
              static_cast<double>(cache->hits()), "counter");
        gauge(out, "oms_caller_cache_misses_total",
              "Authenticated requests that asked oms.resolve_caller (not cached, expired, or the cache was off).",
              static_cast<double>(cache->misses()), "counter");
        gauge(out, "oms_caller_cache_invalidations_total", "Cache invalidations received through LISTEN.",
              static_cast<double>(cache->invalidations()), "counter");
        gauge(out, "oms_caller_cache_flushes_total",
              "Times the whole cache was dropped (listener connection lost, or an invalidation of every key).",
              static_cast<double>(cache->flushes()), "counter");
        gauge(out, "oms_caller_cache_entries", "Callers cached now (live or expired, until evicted).",
              static_cast<double>(cache->entries()));
        gauge(out, "oms_caller_cache_listener_connected",
              "1 while the invalidation listener LISTENs (the cache is on), 0 otherwise (every lookup misses).",
              cache->listening() ? 1 : 0);
    }

    if (const TaskCounters* tasks = rt.task_counters()) {
        gauge(out, "oms_tasks_done_total", "Task runs on this host that succeeded.",
              static_cast<double>(tasks->done.load()), "counter");
        gauge(out, "oms_tasks_retried_total", "Task runs on this host that failed and were scheduled again.",
              static_cast<double>(tasks->retried.load()), "counter");
        gauge(out, "oms_tasks_dead_total",
              "Tasks this host gave up on (see `oms-host tasks list --state dead`).",
              static_cast<double>(tasks->dead.load()), "counter");
    }

    family(out, "oms_plugin_info", "gauge", "A loaded plugin (always 1).");
    for (const auto& p : rt.plugins())
        sample(out, "oms_plugin_info",
               "name=\"" + prometheus_label(p->name) + "\",version=\"" + prometheus_label(p->version) + "\"", "1");
    family(out, "oms_build_info", "gauge", "The host's version and plugin ABI (always 1).");
    sample(out, "oms_build_info",
           std::string("version=\"") + prometheus_label(OMS_VERSION) + "\",abi=\"" + std::to_string(OMS_ABI_MAJOR) +
               "." + std::to_string(OMS_ABI_MINOR) + "\"",
           "1");

    auto uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - rt.started()).count();
    gauge(out, "oms_uptime_seconds", "Seconds since the host started.", std::round(uptime * 1000) / 1000);
    gauge(out, "process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds.",
          std::floor(g_process_start));
    if (auto cpu = cpu_seconds())
        gauge(out, "process_cpu_seconds_total", "User and system CPU time spent, in seconds.", *cpu, "counter");
    if (auto rss = resident_bytes()) gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.", *rss);
    gauge(out, "process_open_fds", "Open file descriptors.", open_fds());
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        gauge(out, "process_max_fds", "The limit of open file descriptors.", static_cast<double>(rl.rlim_cur));
    return out;
}

}  // namespace oms::host
