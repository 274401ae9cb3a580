#include "runtime.hpp"

#include <dlfcn.h>
#include <unistd.h>
#include <openssl/rand.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <map>
#include <set>

#include "caller_cache.hpp"
#include "contracts.hpp"
#include "notify_listener.hpp"
#include "tasks.hpp"

namespace fs = std::filesystem;

namespace oms::host {
namespace {

Runtime* g_runtime = nullptr;

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        size_t comma = s.find(',', start);
        std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        if (!item.empty()) out.push_back(item);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}

bool valid_plugin_name(std::string_view n) {
    return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

// Next to the executable: build/plugins in the build tree, lib/oms/plugins when installed.
std::string default_plugin_dir() {
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (ec) return "plugins";
    fs::path base = exe.parent_path().parent_path();
    for (auto candidate : {base / "plugins", base / "lib" / "oms" / "plugins"})
        if (fs::is_directory(candidate, ec)) return candidate.string();
    return (base / "lib" / "oms" / "plugins").string();
}

}  // namespace

Runtime::Runtime(Config config) : config_(std::move(config)) {
    g_runtime = this;
    contract_checks_ = config_.contract_checks();
    plugin_log_ = spdlog::default_logger();
}

Runtime::~Runtime() {
    stop_caller_cache();
    shutdown_plugins();
    db_.reset();
    if (g_runtime == this) g_runtime = nullptr;
}

Runtime& Runtime::current() { return *g_runtime; }

LoadedPlugin& Runtime::open_plugin(const std::string& path) {
    auto p = std::make_unique<LoadedPlugin>();
    p->file = path;
    p->dl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!p->dl) throw PluginError("plugin " + path + " cannot be loaded: " + dlerror());
    auto entry = reinterpret_cast<oms_plugin_entry_fn>(dlsym(p->dl, OMS_PLUGIN_ENTRY_SYMBOL));
    if (!entry) {
        dlclose(p->dl);
        throw PluginError("plugin " + path + " is not an OMS plugin: it exports no " OMS_PLUGIN_ENTRY_SYMBOL);
    }
    const oms_plugin_descriptor* d = entry();
    auto refuse = [&](const std::string& why) {
        dlclose(p->dl);
        throw PluginError("plugin " + path + " refused: " + why);
    };
    if (!d) refuse("its entry returned no descriptor");
    // abi_major is the first field of every version of the descriptor; read nothing else before it matches.
    if (d->abi_major != OMS_ABI_MAJOR)
        refuse("built for OMS ABI " + std::to_string(d->abi_major) + "." + std::to_string(d->abi_minor) +
               ", this host provides ABI " + std::to_string(OMS_ABI_MAJOR) + "." + std::to_string(OMS_ABI_MINOR) +
               "; rebuild it against an OMS SDK " + std::to_string(OMS_ABI_MAJOR) + ".x");
    if (d->struct_size < offsetof(oms_plugin_descriptor, shutdown) + sizeof(d->shutdown))
        refuse("its descriptor is truncated (struct_size " + std::to_string(d->struct_size) + ")");
    if (!d->name || !valid_plugin_name(d->name)) refuse("its name must be 1-64 characters of [a-z0-9_]");
    if (!d->init) refuse("it has no init function");
    p->descriptor = d;
    p->name = d->name;
    p->version = d->version ? d->version : "0";
    p->description = d->description ? d->description : "";
    p->abi_major = d->abi_major;
    p->abi_minor = d->abi_minor;
    if (d->dependencies)
        for (const char* const* dep = d->dependencies; *dep; ++dep) p->dependencies.emplace_back(*dep);
    p->handle = std::make_unique<oms_plugin>(oms_plugin{this, p.get()});
    plugins_.push_back(std::move(p));
    return *plugins_.back();
}

void Runtime::load_plugins() {
    // OMS_PLUGIN_DIR is a colon-separated list of folders (like PATH). A
    // folder given that does not exist refuses start-up: an operator who named
    // plugins never gets a host silently without them.
    std::string given = config_.get("OMS_PLUGIN_DIR");
    std::vector<std::string> dirs;
    for (size_t start = 0; start <= given.size();) {
        size_t colon = given.find(':', start);
        std::string d = given.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
        if (!d.empty()) dirs.push_back(d);
        if (colon == std::string::npos) break;
        start = colon + 1;
    }
    std::error_code ec;
    for (const auto& d : dirs)
        if (!fs::is_directory(d, ec))
            throw PluginError("OMS_PLUGIN_DIR names the folder " + d + ", which does not exist");
    if (dirs.empty()) {
        dirs.push_back(default_plugin_dir());
        if (!fs::is_directory(dirs[0], ec)) {
            spdlog::warn("plugin directory {} does not exist; serving without plugins", dirs[0]);
            dirs.clear();
        }
    }
    std::vector<std::string> wanted = split_list(config_.get("OMS_PLUGINS"));
    std::vector<std::string> files;
    if (wanted.empty()) {
        for (const auto& d : dirs) {
            std::vector<std::string> here;
            for (const auto& e : fs::directory_iterator(d, ec))
                if (e.path().extension() == ".so") here.push_back(e.path().string());
            std::sort(here.begin(), here.end());
            files.insert(files.end(), here.begin(), here.end());
        }
    } else {
        for (const auto& name : wanted) {
            std::vector<std::string> found;
            for (const auto& d : dirs)
                if (fs::path path = fs::path(d) / (name + ".so"); fs::exists(path, ec)) found.push_back(path.string());
            if (found.empty())
                throw PluginError("OMS_PLUGINS names '" + name + "' but no " + name + ".so is in " +
                                  (given.empty() ? (dirs.empty() ? default_plugin_dir() : dirs[0]) : given));
            files.insert(files.end(), found.begin(), found.end());  // two of one name are refused below
        }
    }

    std::map<std::string, LoadedPlugin*> by_name;
    for (const auto& f : files) {
        LoadedPlugin& p = open_plugin(f);
        auto [it, inserted] = by_name.emplace(p.name, &p);
        if (!inserted)
            throw PluginError("plugin name '" + p.name + "' is provided twice: by " + it->second->file + " and by " +
                              f);
    }
    for (const auto& p : plugins_)
        for (const auto& dep : p->dependencies)
            if (!by_name.count(dep))
                throw PluginError("plugin " + p->name + " (" + p->file + ") needs plugin '" + dep +
                                  "', which is not loaded");

    // Dependency order (stable: otherwise by file name); a cycle is refused.
    std::vector<std::unique_ptr<LoadedPlugin>> ordered;
    std::set<std::string> done;
    while (!plugins_.empty()) {
        auto ready = std::find_if(plugins_.begin(), plugins_.end(), [&](const auto& p) {
            return std::all_of(p->dependencies.begin(), p->dependencies.end(),
                               [&](const std::string& d) { return done.count(d) > 0; });
        });
        if (ready == plugins_.end())
            throw PluginError("plugins have a dependency cycle involving '" + plugins_.front()->name + "'");
        done.insert((*ready)->name);
        ordered.push_back(std::move(*ready));
        plugins_.erase(ready);
    }
    plugins_ = std::move(ordered);
    for (auto& p : plugins_) init_plugin(*p);
}

void Runtime::init_plugin(LoadedPlugin& p) {
    oms_error err;
    registering_ = &p;
    int rc = p.descriptor->init(api(), p.handle.get(), &err);
    registering_ = nullptr;
    if (rc != OMS_OK)
        throw PluginError("plugin " + p.name + " (" + p.file + ") failed to initialise: " +
                          (err.detail.empty() ? err.code : err.detail));
    p.initialized = true;
}

void Runtime::shutdown_plugins() {
    // Nothing registered may outlive the code it points into.
    router_ = Router<RouteInfo>();
    next_route_id_ = 0;
    http_metrics_.reset();
    subscriptions_.clear();
    services_.clear();
    jobs_.clear();
    commands_.clear();
    tasks_.clear();
    events_.clear();
    service_uses_.clear();
    for (auto it = plugins_.rbegin(); it != plugins_.rend(); ++it) {
        auto& p = **it;
        if (p.initialized && p.descriptor->shutdown) p.descriptor->shutdown();
        p.initialized = false;
    }
    for (auto it = plugins_.rbegin(); it != plugins_.rend(); ++it)
        if ((*it)->dl) dlclose((*it)->dl);
    plugins_.clear();
}

const ServiceInfo* Runtime::find_service(std::string_view name) const {
    for (const auto& s : services_)
        if (s.name == name) return &s;
    // The caller resolver answers to both its names (auth.resolve_caller before
    // ABI 1.3), for the plugins that offer it and for those that call it.
    std::string_view alias = name == OMS_SERVICE_RESOLVE_CALLER ? std::string_view(kLegacyResolveCaller)
                             : name == kLegacyResolveCaller    ? std::string_view(OMS_SERVICE_RESOLVE_CALLER)
                                                               : std::string_view();
    if (!alias.empty())
        for (const auto& s : services_)
            if (s.name == alias) return &s;
    return nullptr;
}

const ServiceInfo* Runtime::caller_resolver() const { return find_service(OMS_SERVICE_RESOLVE_CALLER); }

const EventInfo* Runtime::find_event(std::string_view name) const {
    for (const auto& e : events_)
        if (e.name == name) return &e;
    return nullptr;
}

void Runtime::add_event(EventInfo e) {
    if (const EventInfo* x = find_event(e.name))
        throw PluginError("event '" + e.name + "' of plugin '" + e.plugin + "' is already declared by plugin '" +
                          x->plugin + "'");
    events_.push_back(std::move(e));
}

void Runtime::add_route(RouteInfo route) {
    std::string method = route.method, path = route.path, plugin = route.plugin;
    route.id = next_route_id_;
    if (auto existing = router_.add(method, path, std::move(route))) {
        std::string owner;
        router_.for_each([&](const std::string& m, const std::string& pat, const RouteInfo& r) {
            if (m == method && pat == *existing) owner = r.plugin;
        });
        throw PluginError("route " + method + " " + path + " of plugin '" + plugin + "' conflicts with " + method +
                          " " + *existing + " of plugin '" + owner + "'");
    }
    ++next_route_id_;
}

void Runtime::add_migration(MigrationInfo m) {
    for (const auto& x : migrations_)
        if (x.plugin == m.plugin && x.version == m.version)
            throw PluginError("plugin " + m.plugin + " registers migration version " + std::to_string(m.version) +
                              " twice (" + x.name + ", " + m.name + ")");
    migrations_.push_back(std::move(m));
}

void Runtime::add_service(ServiceInfo s) {
    if (const ServiceInfo* x = find_service(s.name))
        throw PluginError("service '" + s.name + "' of plugin '" + s.plugin + "' is already offered by plugin '" +
                          x->plugin + "'");
    services_.push_back(std::move(s));
}

void Runtime::add_subscription(SubscriptionInfo s) {
    if (s.after_commit) {
        int n = 0;
        for (const auto& x : subscriptions_) n += x.plugin == s.plugin && x.after_commit;
        s.id = s.plugin + "/" + std::to_string(n);
        // The first after-commit subscriber brings the host's delivering task.
        if (!find_task(kDeliverEventTask)) tasks_.push_back({"oms", kDeliverEventTask, &deliver_event, this, 0});
    }
    subscriptions_.push_back(std::move(s));
}

void Runtime::wake_tasks() const {
    if (TaskRunner* r = task_runner_.load()) r->wake();
}

const TaskCounters* Runtime::task_counters() const {
    TaskRunner* r = task_runner_.load();
    return r ? &r->counters() : nullptr;
}

const TaskInfo* Runtime::find_task(std::string_view name) const {
    for (const auto& t : tasks_)
        if (t.name == name) return &t;
    return nullptr;
}

void Runtime::add_task(TaskInfo t) {
    if (const TaskInfo* x = find_task(t.name))
        throw PluginError("task '" + t.name + "' of plugin '" + t.plugin + "' is already registered by plugin '" +
                          x->plugin + "'");
    tasks_.push_back(std::move(t));
}

void Runtime::add_command(CommandInfo c) {
    for (const auto& x : commands_)
        if (x.plugin == c.plugin && x.name == c.name)
            throw PluginError("plugin " + c.plugin + " registers command '" + c.name + "' twice");
    commands_.push_back(std::move(c));
}

Database& Runtime::database() {
    std::call_once(db_once_, [this] {
        Database::Options o;
        o.url = config_.database_url();
        o.max_connections = db_connections_;
        o.statement_timeout = config_.statement_timeout();
        db_ = std::make_unique<Database>(o);
    });
    return *db_;
}

void Runtime::start_caller_cache(size_t capacity, std::chrono::seconds ttl, const std::string& listen_url) {
    if (caller_cache_ || ttl.count() <= 0) return;
    caller_cache_ = std::make_unique<CallerCache>(CallerCache::Options{capacity, ttl});
    NotifyListener::Options o;
    o.url = listen_url;
    o.channel = std::string(kCacheInvalidateChannel);
    // Distinct per process, so an operator (or a test) can tell the hosts' listeners apart.
    o.application_name = "oms-listener/" + std::to_string(::getpid());
    CallerCache* cache = caller_cache_.get();
    cache_listener_ = std::make_unique<NotifyListener>(
        o,
        [cache](std::string_view payload) {
            // "<service>\n<key>"; only the resolve_caller answers are cached here.
            auto nl = payload.find('\n');
            std::string_view service = payload.substr(0, nl);
            std::string_view key = nl == std::string_view::npos ? std::string_view() : payload.substr(nl + 1);
            if (service == CallerCache::kService || service == kLegacyResolveCaller) cache->invalidate(key);
        },
        [cache](bool listening) { cache->set_listening(listening); });
    cache_listener_->start();
}

void Runtime::stop_caller_cache() {
    if (cache_listener_) cache_listener_->stop();  // reports "down": the cache is flushed and off
    cache_listener_.reset();
}

const TokenService& Runtime::tokens() {
    std::call_once(tokens_once_, [this] {
        std::string secret = config_.get("JWT_SECRET");
        if (secret.empty()) {
            unsigned char bytes[32];
            RAND_bytes(bytes, sizeof bytes);
            static const char* hex = "0123456789abcdef";
            for (unsigned char b : bytes) {
                secret.push_back(hex[b >> 4]);
                secret.push_back(hex[b & 15]);
            }
            spdlog::warn("JWT_SECRET is not set: using a random secret for this process only "
                         "(tokens die with it and are not accepted by other hosts; development only)");
        }
        tokens_ = std::make_unique<TokenService>(secret, config_.jwt_expires_in());
    });
    return *tokens_;
}

const std::string* RequestContext::header(std::string_view lower_name) const {
    for (const auto& [k, v] : headers)
        if (k == lower_name) return &v;
    return nullptr;
}

RequestContext::~RequestContext() = default;

oms_tx& request_transaction(RequestContext& ctx) {
    if (!ctx.tx) {
        auto tx = std::make_unique<oms_tx>();
        tx->runtime = ctx.runtime;
        tx->lease.emplace(ctx.runtime->database().acquire());
        // A read-only route's statements run without BEGIN/COMMIT (see OMS_ROUTE_READ_ONLY).
        // (An idempotent route is never read-only: its claim lives in the transaction.)
        uint32_t flags = ctx.route ? ctx.route->flags : 0;
        if (!(flags & OMS_ROUTE_READ_ONLY) || (flags & OMS_ROUTE_IDEMPOTENT)) tx->lease->begin();
        else tx->read_only = true;
        tx->lease->reset_session_at_end();
        ctx.tx = std::move(tx);
    }
    return *ctx.tx;
}

}  // namespace oms::host
