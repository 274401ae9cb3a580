// The running host: configuration, loaded plugins and everything they
// registered, the database and the token service. One per process.
#pragma once

#include <oms/abi.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "auth.hpp"
#include "config.hpp"
#include "db.hpp"
#include "router.hpp"

namespace spdlog {
class logger;
}

namespace oms::host {

class Runtime;
struct RequestContext;
class HttpMetrics;
class CallerCache;
class NotifyListener;
struct TaskCounters;
class TaskRunner;
class JsonContract;

// A plugin that cannot be loaded or initialised: printed as one line, exit 2.
struct PluginError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct LoadedPlugin {
    std::string name, version, description, file;
    uint32_t abi_major = 0, abi_minor = 0;
    std::vector<std::string> dependencies;
    const oms_plugin_descriptor* descriptor = nullptr;
    void* dl = nullptr;
    bool initialized = false;
    std::unique_ptr<oms_plugin> handle;
    // What it declared (ABI 1.3): a plugin that declares events (calls) is held
    // to them; one rebuilt against SDK 1.3 without declaring any is only warned.
    bool declared_events = false, declared_calls = false;
};

// What a handler produces, before it becomes an HTTP response.
struct Reply {
    int status = 200;
    std::string body;
    std::string content_type;
    std::vector<std::pair<std::string, std::string>> headers;
};

struct RouteInfo {
    std::string plugin;  // "oms" for the host's own routes
    std::string method, path;
    uint32_t flags = 0;
    std::string role;
    std::string summary, openapi;
    oms_route_handler handler = nullptr;
    void* user_data = nullptr;
    std::function<Reply(RequestContext&)> builtin;  // host routes
    bool on_reactor = false;  // builtin that never blocks: answered without the worker pool
    bool rate_limit_exempt = false;  // never counted by OMS_RATE_LIMIT_RPS (probes, scrapes)
    uint32_t id = 0;  // 0, 1, 2 ... in registration order (set by add_route; indexes metrics slots)
    const LoadedPlugin* owner = nullptr;  // null for the host's own routes
};

struct MigrationInfo {
    std::string plugin;
    uint32_t version;
    std::string name;
    std::string sql;
};

struct SubscriptionInfo {
    std::string plugin, pattern;
    oms_event_handler handler;
    void* user_data;
    bool after_commit = false;  // delivered by the task oms.deliver_event after the publisher commits
    std::string id;             // "<plugin>/<n>": names an after-commit subscriber in its deliveries
    bool optional = false;      // OMS_SUBSCRIBE_OPTIONAL: no declared event is needed at start-up
    const LoadedPlugin* owner = nullptr;
};

// An event a plugin declared it publishes (contracts.hpp).
struct EventInfo {
    std::string plugin, name, summary;
    std::shared_ptr<const JsonContract> payload;
};

// A service a plugin declared it calls.
struct ServiceUseInfo {
    std::string plugin, service;
    bool optional = false;
};

// The host's own task that delivers events to after-commit subscribers:
// payload {subscriber: SubscriptionInfo::id, event, payload}. `runtime` is
// the Runtime (host_api.cpp).
inline constexpr const char* kDeliverEventTask = "oms.deliver_event";
int deliver_event(void* runtime, const oms_task* task, oms_error* err);

struct ServiceInfo {
    std::string plugin, name, description;
    oms_service_handler handler;
    void* user_data;
    const LoadedPlugin* owner = nullptr;
    std::shared_ptr<const JsonContract> args, result;  // null when not declared
};

// The name OMS_SERVICE_RESOLVE_CALLER had before ABI 1.3; still accepted.
inline constexpr const char* kLegacyResolveCaller = "auth.resolve_caller";

struct JobInfo {
    std::string plugin, name;
    std::chrono::milliseconds interval;
    oms_job_handler handler;
    void* user_data;
    const LoadedPlugin* owner = nullptr;
};

struct TaskInfo {
    std::string plugin, name;
    oms_task_handler handler;
    void* user_data;
    uint32_t max_attempts;  // 0: the host's default
    const LoadedPlugin* owner = nullptr;  // null for the host's own
};

struct CommandInfo {
    struct Option {
        std::string name, help;
        uint32_t flags;
    };
    std::string plugin, name, help;
    std::vector<Option> options;
    oms_command_handler handler;
    void* user_data;
    const LoadedPlugin* owner = nullptr;
};

class Runtime {
public:
    explicit Runtime(Config config);
    ~Runtime();
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    static Runtime& current();  // the process's runtime (the C API needs it for context-free calls)

    // Loads OMS_PLUGINS from OMS_PLUGIN_DIR (all *.so when unset), checks ABI,
    // names and dependencies, and calls each init in dependency order.
    // Throws PluginError with one line naming the file and the problem.
    void load_plugins();
    void shutdown_plugins();  // reverse order; then dlclose

    const Config& config() const { return config_; }
    const std::vector<std::unique_ptr<LoadedPlugin>>& plugins() const { return plugins_; }
    const Router<RouteInfo>& router() const { return router_; }
    const std::vector<MigrationInfo>& migrations() const { return migrations_; }
    const std::vector<SubscriptionInfo>& subscriptions() const { return subscriptions_; }
    const std::vector<ServiceInfo>& services() const { return services_; }
    const std::vector<JobInfo>& jobs() const { return jobs_; }
    const std::vector<CommandInfo>& commands() const { return commands_; }
    const std::vector<TaskInfo>& tasks() const { return tasks_; }
    const std::vector<EventInfo>& events() const { return events_; }
    const std::vector<ServiceUseInfo>& service_uses() const { return service_uses_; }
    const ServiceInfo* find_service(std::string_view name) const;
    const EventInfo* find_event(std::string_view name) const;
    // The service that says who a token's subject is now (OMS_SERVICE_RESOLVE_CALLER,
    // or kLegacyResolveCaller from a plugin built before ABI 1.3); null when none.
    const ServiceInfo* caller_resolver() const;
    // OMS_CONTRACT_CHECKS (default: on unless OMS_ENV=production): hold every
    // publish and service call to the declarations (contracts.hpp).
    bool contract_checks() const { return contract_checks_; }
    const TaskInfo* find_task(std::string_view name) const;

    // The serving host's task runner (set by `serve`, which outlives every
    // worker; null in CLI commands, whose tasks wait for a serving host's poll).
    void set_task_runner(TaskRunner* r) { task_runner_.store(r); }
    // After a transaction that enqueued tasks committed: wakes the task threads.
    void wake_tasks() const;
    // Its counters, for GET /metrics (null when not serving).
    const TaskCounters* task_counters() const;

    void add_route(RouteInfo route);  // throws PluginError on conflict
    uint32_t route_count() const { return next_route_id_; }  // ids handed out so far

    // The serving HTTP server's request metrics (null before it starts), for GET /metrics.
    void set_http_metrics(std::shared_ptr<HttpMetrics> m) { http_metrics_ = std::move(m); }
    const HttpMetrics* http_metrics() const { return http_metrics_.get(); }

    Database& database();             // created on first use from DATABASE_URL
    bool has_database() const { return db_ != nullptr; }
    void set_database_connections(int n) { db_connections_ = n; }
    const TokenService& tokens();
    std::shared_ptr<spdlog::logger> plugin_logger() const { return plugin_log_; }
    std::chrono::steady_clock::time_point started() const { return started_; }

    // The cache of oms.resolve_caller answers and the LISTEN connection that
    // keeps it honest (caller_cache.hpp). Null unless `serve` started it with
    // a TTL above 0; CLI commands never cache. `listen_url` is the database
    // the listener connects to (outside the pool).
    void start_caller_cache(size_t capacity, std::chrono::seconds ttl, const std::string& listen_url);
    void stop_caller_cache();  // joins the listener; the cache stays, off (every lookup misses)
    CallerCache* caller_cache() const { return caller_cache_.get(); }

    // Registration entry points used by the C API while a plugin's init runs.
    LoadedPlugin* registering() const { return registering_; }
    void add_migration(MigrationInfo m);
    void add_subscription(SubscriptionInfo s);
    void add_service(ServiceInfo s);
    void add_job(JobInfo j) { jobs_.push_back(std::move(j)); }
    void add_task(TaskInfo t);
    void add_command(CommandInfo c);
    void add_event(EventInfo e);
    void add_service_use(ServiceUseInfo u) { service_uses_.push_back(std::move(u)); }

    static const oms_host_api* api();  // the function table handed to plugins

private:
    LoadedPlugin& open_plugin(const std::string& path);
    void init_plugin(LoadedPlugin& p);

    Config config_;
    std::vector<std::unique_ptr<LoadedPlugin>> plugins_;  // in init order
    Router<RouteInfo> router_;
    uint32_t next_route_id_ = 0;
    std::shared_ptr<HttpMetrics> http_metrics_;
    std::vector<MigrationInfo> migrations_;
    std::vector<SubscriptionInfo> subscriptions_;
    std::vector<ServiceInfo> services_;
    std::vector<JobInfo> jobs_;
    std::vector<CommandInfo> commands_;
    std::vector<TaskInfo> tasks_;
    std::vector<EventInfo> events_;
    std::vector<ServiceUseInfo> service_uses_;
    bool contract_checks_ = true;
    std::atomic<TaskRunner*> task_runner_{nullptr};
    LoadedPlugin* registering_ = nullptr;
    std::unique_ptr<Database> db_;
    int db_connections_ = 10;
    std::unique_ptr<TokenService> tokens_;
    std::once_flag tokens_once_;
    std::once_flag db_once_;
    std::shared_ptr<spdlog::logger> plugin_log_;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    std::unique_ptr<CallerCache> caller_cache_;
    std::unique_ptr<NotifyListener> cache_listener_;
};

// Per-request state shared by the HTTP layer and the C API.
struct RequestContext {
    Runtime* runtime = nullptr;
    const RouteInfo* route = nullptr;
    std::string method, path, query_string, body, request_id, remote_address;
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
    PathParams params;
    std::vector<std::pair<std::string, std::string>> query;  // decoded
    std::optional<Principal> caller;
    std::unique_ptr<oms_tx> tx;  // the request's transaction, when a handler asked for one
    std::string cors_origin;     // Access-Control-Allow-Origin to send, empty when none
    int metrics_slot = -1;       // HttpMetrics slot of a matched route or preflight; -1: by method

    const std::string* header(std::string_view lower_name) const;
    ~RequestContext();
};

// The request's transaction, begun on first use (a pooled connection is held
// from then until the reply).
oms_tx& request_transaction(RequestContext& ctx);

// Runs a route's handler (plugin or builtin), committing or rolling back the
// request transaction. Never throws: every failure becomes a problem reply.
Reply run_route(RequestContext& ctx);

// Tags plugin log lines written on this thread with the request's id.
void set_current_request(const RequestContext* ctx);

// RFC 9457 problem+json.
// `members`: extension members, name → JSON text (standard names are skipped).
Reply problem(int status, std::string_view code, std::string_view detail, std::string_view request_id,
              const std::vector<std::pair<std::string, std::string>>& fields = {},
              const std::vector<std::pair<std::string, std::string>>& members = {});

}  // namespace oms::host

// The opaque handles of <oms/abi.h>, defined on the host side.
struct oms_plugin {
    oms::host::Runtime* runtime;
    oms::host::LoadedPlugin* plugin;
};
struct oms_error {
    int status = 0;
    std::string code, detail, sqlstate;
    std::vector<std::pair<std::string, std::string>> fields;
    std::vector<std::pair<std::string, std::string>> headers;
    std::vector<std::pair<std::string, std::string>> members;  // name → JSON text (error_add_member)
};
struct oms_buffer {
    std::string data;
};
struct oms_tx {
    oms::host::Runtime* runtime = nullptr;
    std::optional<oms::host::Database::Lease> lease;
    int event_depth = 0;
    bool read_only = false;       // a read-only route's: every statement commits at once
    bool enqueued_tasks = false;  // wake the task threads once it commits
};
struct oms_result {
    explicit oms_result(oms::host::QueryResult r) : res(std::move(r)) {}
    explicit oms_result(std::shared_ptr<oms::host::PendingResult> p) : res(nullptr), pending(std::move(p)) {}
    oms::host::QueryResult res;  // no rows until a pending answer was waited for
    std::shared_ptr<oms::host::PendingResult> pending;  // tx_query_deferred's answer, until result_wait
};
struct oms_request {
    oms::host::RequestContext* ctx;
};
struct oms_response {
    oms::host::Reply reply;
};
struct oms_command_args {
    std::vector<std::pair<std::string, std::string>> values;
};
