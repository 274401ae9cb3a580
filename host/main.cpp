// oms-host: loads the plugins, then runs one command (serve by default).
#include <algorithm>
#include <CLI/CLI.hpp>
#include <Poco/Crypto/Crypto.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "caller_cache.hpp"
#include "config.hpp"
#include "contracts.hpp"
#include "http_server.hpp"
#include "idempotency.hpp"
#include "jobs.hpp"
#include "tasks.hpp"
#include "logging.hpp"
#include "metrics.hpp"
#include "migrate.hpp"
#include "openapi.hpp"
#include "runtime.hpp"

#ifndef OMS_VERSION
#define OMS_VERSION "0.0.0"
#endif

using namespace oms::host;
using json = nlohmann::json;

namespace {

// Exit codes: 0 done, 1 failed while running, 2 bad configuration or usage.
[[noreturn]] void die(int code, const std::string& line) {
    std::fprintf(stderr, "oms-host: %s\n", line.c_str());
    std::fflush(stdout);
    std::_Exit(code);
}

void raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

void write_port_file(const std::string& path, uint16_t port) {
    std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp);
        out << port << "\n";
    }
    std::filesystem::rename(tmp, path);
}

// Waits out a database that is still starting (e.g. under systemd ordering).
template <class F>
auto with_database_retry(const Config& cfg, F&& f) {
    auto deadline = std::chrono::steady_clock::now() + cfg.db_wait();
    while (true) {
        try {
            return f();
        } catch (const DbError& e) {
            if (e.status != 503 || std::chrono::steady_clock::now() > deadline) throw;
            spdlog::warn("database not reachable yet ({}); retrying", e.what());
            std::this_thread::sleep_for(std::chrono::seconds(1));
        }
    }
}

// A host route that serves a JSON document built at start-up, on the reactor;
// `document` may be filled after the route is added.
RouteInfo json_document_route(std::string path, std::string summary,
                              std::shared_ptr<std::shared_ptr<const std::string>> document) {
    RouteInfo r;
    r.plugin = "oms";
    r.method = "GET";
    r.path = std::move(path);
    r.summary = std::move(summary);
    r.on_reactor = true;
    r.openapi = json{{"responses", {{"200", {{"description", "The document"},
                                              {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}}}}}}
                    .dump();
    r.builtin = [document](RequestContext&) {
        Reply reply;
        reply.content_type = "application/json";
        reply.body = **document;
        return reply;
    };
    return r;
}

// The host's own routes. The OpenAPI document is made once they are all
// registered (GET /openapi.json describes itself too) and put in `document_out`.
void add_builtin_routes(Runtime& rt, std::shared_ptr<const std::string>* document_out = nullptr) {
    const json status_schema = {{"type", "object"}, {"required", {"status"}}, {"properties", {{"status", {{"type", "string"}}}}}};

    RouteInfo live;
    live.plugin = "oms";
    live.method = "GET";
    live.path = "/health/live";
    live.summary = "Liveness: answers without touching the database";
    live.on_reactor = true;
    live.rate_limit_exempt = true;
    live.openapi = json{{"responses", {{"200", {{"description", "The process serves HTTP"},
                                                 {"content", {{"application/json", {{"schema", status_schema}}}}}}}}}}
                       .dump();
    live.builtin = [](RequestContext&) {
        Reply r;
        r.content_type = "application/json";
        r.body = R"({"status":"ok"})";
        return r;
    };
    rt.add_route(std::move(live));

    RouteInfo health;
    health.plugin = "oms";
    health.method = "GET";
    health.path = "/health";
    health.summary = "Readiness: database round trip, version, uptime, plugins";
    {
        json health_schema = {
            {"type", "object"},
            {"required", {"status", "version", "uptime_seconds", "database", "plugins"}},
            {"properties",
             {{"status", {{"type", "string"}, {"enum", {"ok", "unavailable"}}}},
              {"version", {{"type", "string"}}},
              {"uptime_seconds", {{"type", "integer"}}},
              {"database",
               {{"type", "object"},
                {"properties",
                 {{"status", {{"type", "string"}, {"enum", {"up", "down"}}}},
                  {"latency_ms", {{"type", {"number", "null"}}}}}}}},
              {"plugins",
               {{"type", "array"},
                {"items",
                 {{"type", "object"},
                  {"properties", {{"name", {{"type", "string"}}}, {"version", {{"type", "string"}}}}}}}}}}}};
        json content = {{"application/json", {{"schema", health_schema}}}};
        health.openapi = json{{"responses",
                               {{"200", {{"description", "Ready"}, {"content", content}}},
                                {"503", {{"description", "The database is down"},
                                         {"headers", {{"Retry-After", {{"$ref", "#/components/headers/RetryAfter"}}}}},
                                         {"content", content}}}}}}
                             .dump();
    }
    health.builtin = [](RequestContext& ctx) {
        Runtime& rt = *ctx.runtime;
        json body;
        json plugins = json::array();
        for (const auto& p : rt.plugins()) plugins.push_back({{"name", p->name}, {"version", p->version}});
        bool ok = true;
        json database;
        auto t0 = std::chrono::steady_clock::now();
        try {
            auto c = rt.database().acquire();
            c.query("SELECT 1");
            double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            database = {{"status", "up"}, {"latency_ms", std::round(ms * 100) / 100}};
        } catch (const std::exception& e) {
            ok = false;
            database = {{"status", "down"}, {"latency_ms", nullptr}};
            spdlog::warn("health: database check failed: {}", e.what());
        }
        auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - rt.started());
        body = {{"status", ok ? "ok" : "unavailable"},
                {"version", OMS_VERSION},
                {"uptime_seconds", uptime.count()},
                {"database", database},
                {"plugins", plugins}};
        Reply r;
        r.status = ok ? 200 : 503;
        r.content_type = "application/json";
        r.body = body.dump();
        if (!ok) r.headers.emplace_back("Retry-After", "5");
        return r;
    };
    rt.add_route(std::move(health));

    RouteInfo metrics;
    metrics.plugin = "oms";
    metrics.method = "GET";
    metrics.path = "/metrics";
    metrics.summary = "Prometheus metrics: requests, latency, database pool, plugins";
    metrics.on_reactor = true;  // reads counters and the pool's bookkeeping; never waits
    metrics.rate_limit_exempt = true;
    metrics.openapi =
        json{{"description", "Prometheus text exposition format 0.0.4; the metric names are listed in the README."},
             {"responses",
              {{"200", {{"description", "The current values"},
                        {"content", {{"text/plain", {{"schema", {{"type", "string"}}}}}}}}}}}}
            .dump();
    metrics.builtin = [](RequestContext& ctx) {
        Reply r;
        r.content_type = kMetricsContentType;
        r.body = render_metrics(*ctx.runtime);
        return r;
    };
    rt.add_route(std::move(metrics));

    // GET /asyncapi.json: computed once (the declarations are fixed when the plugins are loaded).
    auto events_document = std::make_shared<std::shared_ptr<const std::string>>(
        std::make_shared<const std::string>(asyncapi_document(rt).dump()));
    rt.add_route(json_document_route("/asyncapi.json",
                                     "An AsyncAPI 3.0 document of the domain events the loaded plugins declare",
                                     events_document));
    // GET /openapi.json describes itself too: filled once every route is in.
    auto document = std::make_shared<std::shared_ptr<const std::string>>();
    rt.add_route(json_document_route("/openapi.json",
                                     "This OpenAPI 3.1 document: the routes of the host and the loaded plugins",
                                     document));
    *document = std::make_shared<const std::string>(openapi_document(rt).dump());
    if (document_out) *document_out = *document;
}

int serve(Runtime& rt, const sigset_t& signals) {
    const Config& cfg = rt.config();
    cfg.validate_for_serving();
    int workers = cfg.workers();
    // + the job thread, /health under load, and one for each task thread (a
    // task holds at most one connection at a time: its claim, its handler's
    // transaction, its outcome).
    rt.set_database_connections(workers + 2 + cfg.task_threads());

    // Idempotency keys are kept OMS_IDEMPOTENCY_RETENTION seconds (at least 24 h).
    static std::chrono::seconds retention{cfg.idempotency_retention()};
    rt.add_job({"oms", "purge_idempotency_keys", std::chrono::minutes(10),
                [](void* runtime, oms_error* err) -> int {
                    try {
                        auto n = IdempotencyStore::purge(static_cast<Runtime*>(runtime)->database(), retention);
                        if (n) spdlog::info("purged {} idempotency keys", n);
                        return OMS_OK;
                    } catch (const std::exception& e) {
                        err->status = 500;
                        err->detail = e.what();
                        return OMS_FAIL;
                    }
                },
                &rt});

    auto migrations = all_migrations(rt);
    with_database_retry(cfg, [&] {
        Migrator m(rt.database(), migrations);
        if (cfg.auto_migrate()) {
            int n = m.apply();
            if (n) spdlog::info("applied {} migrations", n);
        } else if (!m.up_to_date()) {
            throw MigrationError("the database has pending or changed migrations; run `oms-host migrate` first");
        }
        return 0;
    });
    (void)rt.tokens();
    add_builtin_routes(rt);

    HttpServer::Options o;
    o.address = cfg.bind_address();
    o.port = cfg.port();
    o.workers = workers;
    o.body_limit = cfg.body_limit();
    o.shutdown_timeout = cfg.shutdown_timeout();
    o.cors = cfg.cors();
    o.trusted_proxies = cfg.trusted_proxies();
    o.rate_limit = cfg.rate_limit();
    o.reactor_threads = std::max(1, std::min(4, static_cast<int>(std::thread::hardware_concurrency())));
    // Before the server: its first requests fill the cache once LISTEN is in place.
    rt.start_caller_cache(cfg.caller_cache_size(), cfg.caller_cache_ttl(), cfg.database_url());
    HttpServer server(rt, o);
    server.start();
    JobRunner jobs(rt);
    jobs.start();
    TaskRunner tasks(rt, {cfg.task_threads(), cfg.task_poll(), cfg.task_retry(), std::chrono::minutes(10),
                          cfg.task_lease(), cfg.task_max_attempts()});
    tasks.start();
    rt.set_task_runner(&tasks);

    auto ready = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - rt.started()).count();
    spdlog::info(json({{"event", "listening"},
                       {"address", o.address},
                       {"port", server.port()},
                       {"workers", workers},
                       {"plugins", rt.plugins().size()},
                       {"ready_ms", std::round(ready)},
                       {"environment", cfg.production() ? "production" : "development"}})
                     .dump());
    if (auto pf = cfg.get("OMS_PORT_FILE"); !pf.empty()) write_port_file(pf, server.port());

    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("received {}, draining in-flight requests", sig == SIGINT ? "SIGINT" : "SIGTERM");
    tasks.stop();  // lets running handlers finish (a gateway call is bounded by its timeout)
    jobs.stop();
    server.stop();
    rt.set_task_runner(nullptr);  // no worker is left to wake it
    rt.stop_caller_cache();
    spdlog::info("stopped");
    return 0;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<size_t> width;
    for (const auto& r : rows)
        for (size_t i = 0; i < r.size(); ++i) {
            if (width.size() <= i) width.push_back(0);
            width[i] = std::max(width[i], r[i].size());
        }
    for (const auto& r : rows) {
        std::string line;
        for (size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
        }
        std::cout << line << "\n";
    }
}

int print_contracts(const Runtime& rt, const std::string& format, const std::string& plugin) {
    if (!plugin.empty() && std::none_of(rt.plugins().begin(), rt.plugins().end(),
                                        [&](const auto& p) { return p->name == plugin; }))
        die(2, "no loaded plugin is named '" + plugin + "'");
    if (format == "asyncapi") {
        std::cout << asyncapi_document(rt).dump(2) << "\n";
        return 0;
    }
    if (format == "markdown") {
        if (plugin.empty()) die(2, "--format markdown needs --plugin NAME");
        std::cout << contracts_markdown(rt, plugin) << "\n";
        return 0;
    }
    json all = contracts_json(rt);
    json& list = all["plugins"];
    if (!plugin.empty())
        list.erase(std::remove_if(list.begin(), list.end(), [&](const json& p) { return p["name"] != plugin; }),
                   list.end());
    if (format == "json") {
        std::cout << all.dump(2) << "\n";
        return 0;
    }
    std::vector<std::vector<std::string>> rows{{"PLUGIN", "KIND", "NAME", "CONTRACT"}};
    for (const auto& p : list) {
        std::string name = p["name"];
        if (!p["declares_contracts"].get<bool>())
            rows.push_back({name, "-", "-", "built against ABI " + p["abi"].get<std::string>() + ": declares nothing"});
        for (const auto& e : p["events"]) rows.push_back({name, "publishes", e["name"], e["summary"]});
        for (const auto& s : p["services"]) rows.push_back({name, "offers", s["name"], s["description"]});
        auto missing = [](const json& x) {
            return x["provided"].get<bool>() ? std::string() : std::string(", NOT PROVIDED by any loaded plugin");
        };
        for (const auto& s : p["subscriptions"])
            rows.push_back({name, "subscribes", s["event"],
                            std::string(s["after_commit"].get<bool>() ? "after commit" : "in the publisher's transaction") +
                                (s["optional"].get<bool>() ? ", optional" : "") + missing(s)});
        for (const auto& c : p["calls"])
            rows.push_back({name, "calls", c["service"],
                            std::string(c["optional"].get<bool>() ? "optional" : "required") + missing(c)});
    }
    print_table(rows);
    return 0;
}

int list_tasks(Runtime& rt, const std::string& state) {
    auto c = rt.database().acquire();
    auto r = c.query("SELECT id::text, name, state, attempts::text, "
                     "  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                     "  coalesce(left(last_error, 80), '-') FROM oms_tasks "
                     "WHERE $1 = 'all' OR state = $1 ORDER BY created_at DESC LIMIT 100",
                     {state});
    std::vector<std::vector<std::string>> rows{{"ID", "NAME", "STATE", "RUNS", "CREATED_AT", "LAST_ERROR"}};
    for (int i = 0; i < r.rows(); ++i) {
        std::vector<std::string> row;
        for (int j = 0; j < r.columns(); ++j) row.emplace_back(r.value(i, j));
        rows.push_back(std::move(row));
    }
    print_table(rows);
    return 0;
}

int retry_task(Runtime& rt, const std::string& id) {
    auto c = rt.database().acquire();
    auto r = c.query("UPDATE oms_tasks SET state = 'pending', attempts = 0, run_at = now(), finished_at = NULL "
                     "WHERE id::text = lower($1) AND state = 'dead' RETURNING name",
                     {id});
    if (r.rows() == 0) die(2, "no dead task " + id + " (see `oms-host tasks list`)");
    std::cout << "task " << id << " (" << r.value(0, 0) << ") is due again\n";
    return 0;
}

int clear_data(Runtime& rt, bool yes) {
    if (rt.config().production() && !yes)
        die(2, "clear-data deletes every row; in production pass --yes to confirm");
    auto c = rt.database().acquire();
    auto tables = c.query(
        "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
        "WHERE schemaname = current_schema() AND tablename <> 'oms_migrations' ORDER BY 1");
    if (tables.rows() == 0) {
        std::cout << "nothing to clear\n";
        return 0;
    }
    std::string list;
    for (int i = 0; i < tables.rows(); ++i) list += (i ? ", " : "") + std::string(tables.value(i, 0));
    c.exec_script("TRUNCATE " + list + " RESTART IDENTITY CASCADE");
    // Serving hosts drop every cached caller (the accounts are gone).
    // Under both names, so hosts of an older build (auth.resolve_caller) drop theirs too.
    queue_cache_invalidation(c, CallerCache::kService, "");
    queue_cache_invalidation(c, kLegacyResolveCaller, "");
    c.commit();  // sends it (no transaction is open: it is delivered at once)
    std::cout << "cleared " << tables.rows() << " tables (the migration ledger is kept)\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // Signals are taken by sigwait in serve; block them before any thread starts.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    // Held for the whole process. Every Poco crypto object (JWT signing, the
    // payments plugin's TLS) takes and drops a reference on Poco's OpenSSL
    // initializer; when concurrent drops reach zero Poco 1.11 tears its state
    // down while another thread uses it (a SIGSEGV in pthread_mutex_destroy
    // under load, seen in bench/run.sh). With this reference it never does.
    Poco::Crypto::initializeCrypto();

    if (argc == 2 && (std::string(argv[1]) == "version" || std::string(argv[1]) == "--version")) {
        std::cout << "oms-host " << OMS_VERSION << " (plugin ABI " << OMS_ABI_MAJOR << "." << OMS_ABI_MINOR << ")\n";
        return 0;
    }

    // --config must be known before the plugins (and so their commands) load.
    std::optional<std::string> config_file;
    for (int i = 1; i + 1 < argc; ++i)
        if (std::string(argv[i]) == "--config") config_file = argv[i + 1];

    std::optional<Runtime> runtime;
    try {
        Config cfg = Config::load(config_file);
        setup_logging(cfg.log_level(), cfg.log_json());
        runtime.emplace(std::move(cfg));
        runtime->load_plugins();
    } catch (const std::exception& e) {
        die(2, e.what());
    }
    Runtime& rt = *runtime;

    CLI::App app{"oms-host: order management backend. Loads plugins and serves the REST API.", "oms-host"};
    app.set_help_all_flag("--help-all", "Show help for every command");
    std::string config_arg;
    app.add_option("--config", config_arg, "Config file (default: $OMS_CONFIG, else etc/oms.conf)");
    app.require_subcommand(0, 1);

    auto* serve_cmd = app.add_subcommand("serve", "Migrate (unless OMS_AUTO_MIGRATE=false) and serve HTTP (default)");
    auto* migrate_cmd = app.add_subcommand("migrate", "Apply pending migrations of the host and every loaded plugin");
    auto* migrate_status = migrate_cmd->add_subcommand("status", "List migrations: applied, pending or changed");
    auto* plugins_cmd = app.add_subcommand("plugins", "List the loaded plugins");
    auto* routes_cmd = app.add_subcommand("routes", "List the HTTP routes of the host and the loaded plugins");
    auto* version_cmd = app.add_subcommand("version", "Print the version and the plugin ABI");
    auto* openapi_cmd = app.add_subcommand("openapi", "Print the OpenAPI 3.1 document GET /openapi.json serves");
    auto* contracts_cmd = app.add_subcommand(
        "contracts", "Print the loaded plugins' declared events, services, subscriptions and calls");
    std::string contracts_format = "text", contracts_plugin;
    contracts_cmd->add_option("--format", contracts_format, "text, json, markdown (one plugin's README section) or asyncapi")
        ->check(CLI::IsMember({"text", "json", "markdown", "asyncapi"}));
    contracts_cmd->add_option("--plugin", contracts_plugin, "Only this plugin (required for markdown)");
    auto* tasks_cmd = app.add_subcommand("tasks", "Inspect the task outbox and revive dead tasks");
    tasks_cmd->require_subcommand(1, 1);
    auto* tasks_list = tasks_cmd->add_subcommand("list", "List tasks (newest first, at most 100)");
    std::string tasks_state = "dead";
    tasks_list->add_option("--state", tasks_state, "pending, done, dead or all (default: dead)")
        ->check(CLI::IsMember({"pending", "done", "dead", "all"}));
    auto* tasks_retry = tasks_cmd->add_subcommand("retry", "Make a dead task due again, with a fresh set of runs");
    std::string tasks_retry_id;
    tasks_retry->add_option("id", tasks_retry_id, "The task's id")->required();
    auto* clear_cmd = app.add_subcommand("clear-data", "Delete every row of every table except the migration ledger");
    bool clear_yes = false;
    clear_cmd->add_flag("--yes", clear_yes, "Confirm (required when OMS_ENV=production)");

    // Plugin commands: oms-host <plugin> <command> [--option value ...]
    std::map<std::string, CLI::App*> plugin_apps;
    std::vector<std::pair<CLI::App*, const CommandInfo*>> command_apps;
    std::map<const CommandInfo*, std::map<std::string, std::string>> command_values;
    std::map<const CommandInfo*, std::map<std::string, bool>> command_flags;
    std::map<const CommandInfo*, std::map<std::string, CLI::Option*>> command_options;  // to ask what was given
    try {
        for (const auto& cmd : rt.commands()) {
            CLI::App*& papp = plugin_apps[cmd.plugin];
            if (!papp) {
                papp = app.add_subcommand(cmd.plugin, "Commands of the " + cmd.plugin + " plugin");
                papp->require_subcommand(1);
            }
            CLI::App* capp = papp->add_subcommand(cmd.name, cmd.help);
            for (const auto& opt : cmd.options) {
                if (opt.flags & OMS_OPTION_FLAG) {
                    capp->add_flag("--" + opt.name, command_flags[&cmd][opt.name], opt.help);
                    continue;
                }
                std::string& slot = command_values[&cmd][opt.name];
                CLI::Option* o = capp->add_option((opt.flags & OMS_OPTION_POSITIONAL) ? opt.name : "--" + opt.name,
                                                  slot, opt.help);
                if (opt.flags & OMS_OPTION_REQUIRED) o->required();
                command_options[&cmd][opt.name] = o;
            }
            command_apps.emplace_back(capp, &cmd);
        }
    } catch (const CLI::Error& e) {
        die(2, std::string("a plugin's command clashes with another command: ") + e.what());
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help prints and exits 0; a usage error is a bad invocation: exit 2.
        return app.exit(e) == 0 ? 0 : 2;
    }

    try {
        for (auto& [capp, cmd] : command_apps) {
            if (!capp->parsed()) continue;
            // A plugin's command works on its tables: on a database that was
            // never migrated (or is behind) say what to do instead of failing
            // on a missing relation.
            if (!Migrator(rt.database(), all_migrations(rt)).up_to_date())
                die(2, "the database has pending migrations: run `oms-host migrate` first, then `oms-host " +
                           cmd->plugin + " " + cmd->name + "` again");
            check_contracts_provided(rt);
            oms_command_args args;
            for (auto& [k, v] : command_values[cmd])
                if (command_options[cmd][k]->count() > 0) args.values.emplace_back(k, v);
            for (auto& [k, on] : command_flags[cmd])
                if (on) args.values.emplace_back(k, "1");
            oms_error err;
            ActivePlugin active(cmd->owner);
            if (cmd->handler(cmd->user_data, &args, &err) != OMS_OK)
                die(err.status >= 400 && err.status < 500 ? 2 : 1, err.detail.empty() ? err.code : err.detail);
            return 0;
        }
        if (*migrate_cmd) {
            check_contracts_provided(rt);
            Migrator m(rt.database(), all_migrations(rt));
            if (*migrate_status) {
                std::vector<std::vector<std::string>> rows{{"PLUGIN", "VERSION", "NAME", "STATE", "APPLIED_AT"}};
                bool clean = true;
                for (const auto& s : m.status()) {
                    rows.push_back({s.plugin, std::to_string(s.version), s.name, s.state, s.applied_at});
                    clean = clean && (s.state == "applied" || s.state == "unknown");
                }
                print_table(rows);
                return clean ? 0 : 3;
            }
            int n = with_database_retry(rt.config(), [&] { return m.apply(); });
            std::cout << (n ? "applied " + std::to_string(n) + " migrations" : "database is up to date") << "\n";
            return 0;
        }
        if (*plugins_cmd) {
            std::vector<std::vector<std::string>> rows{{"NAME", "VERSION", "ABI", "DEPENDS", "FILE"}};
            for (const auto& p : rt.plugins()) {
                std::string deps;
                for (const auto& d : p->dependencies) deps += (deps.empty() ? "" : ",") + d;
                rows.push_back({p->name, p->version, std::to_string(p->abi_major) + "." + std::to_string(p->abi_minor),
                                deps.empty() ? "-" : deps, p->file});
            }
            print_table(rows);
            return 0;
        }
        if (*version_cmd) {
            std::cout << "oms-host " << OMS_VERSION << " (plugin ABI " << OMS_ABI_MAJOR << "." << OMS_ABI_MINOR << ")\n";
            return 0;
        }
        if (*openapi_cmd) {
            std::shared_ptr<const std::string> document;
            add_builtin_routes(rt, &document);
            std::cout << json::parse(*document).dump(2) << "\n";
            return 0;
        }
        if (*routes_cmd) {
            add_builtin_routes(rt);
            std::vector<std::vector<std::string>> rows{{"METHOD", "PATH", "AUTH", "FLAGS", "PLUGIN", "SUMMARY"}};
            rt.router().for_each([&](const std::string& m, const std::string& path, const RouteInfo& r) {
                std::string auth = r.role.empty() ? ((r.flags & OMS_ROUTE_AUTH) ? "token" : "public") : "role:" + r.role;
                std::string flags;
                for (auto [bit, name] : {std::pair{OMS_ROUTE_IDEMPOTENT, "idempotent"},
                                         std::pair{OMS_ROUTE_READ_ONLY, "read-only"},
                                         std::pair{OMS_ROUTE_RAW_BODY, "raw-body"}})
                    if (r.flags & bit) flags += (flags.empty() ? "" : ",") + std::string(name);
                rows.push_back({m, path, auth, flags.empty() ? "-" : flags, r.plugin, r.summary});
            });
            print_table(rows);
            return 0;
        }
        if (*contracts_cmd) return print_contracts(rt, contracts_format, contracts_plugin);
        if (*tasks_list) return list_tasks(rt, tasks_state);
        if (*tasks_retry) return retry_task(rt, tasks_retry_id);
        if (*clear_cmd) return clear_data(rt, clear_yes);
        (void)serve_cmd;
        check_contracts_provided(rt);
        return serve(rt, signals);
    } catch (const ConfigError& e) {
        die(2, e.what());
    } catch (const PluginError& e) {
        die(2, e.what());
    } catch (const MigrationError& e) {
        die(1, e.what());
    } catch (const DbError& e) {
        die(1, std::string("database: ") + e.what());
    } catch (const std::exception& e) {
        die(1, e.what());
    }
}
