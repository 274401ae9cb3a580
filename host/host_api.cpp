// The C function table handed to plugins (<oms/abi.h>). Every function here
// is noexcept in spirit: failures are reported through oms_error, never thrown.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <type_traits>

#include "caller_cache.hpp"
#include "contracts.hpp"
#include "openapi.hpp"
#include "runtime.hpp"

namespace oms::host {
namespace {

std::string_view sv(oms_str s) { return s.data ? std::string_view(s.data, s.len) : std::string_view(); }
oms_str os(std::string_view s) { return oms_str{s.data(), s.size()}; }
const oms_str kAbsent{nullptr, 0};

thread_local const RequestContext* t_current_request = nullptr;

void set_error(oms_error* err, int status, std::string_view code, std::string_view detail) {
    if (!err) return;
    err->status = status;
    err->code = code;
    err->detail = detail;
}

void set_db_error(oms_error* err, const DbError& e) {
    set_error(err, e.status, e.code, e.public_detail());
    if (err) err->sqlstate = e.sqlstate;
    if (e.status >= 500) spdlog::error("database: {} (sqlstate {})", e.what(), e.sqlstate.empty() ? "-" : e.sqlstate);
}

// Runs `f`, converting C++ exceptions into `err` (nothing unwinds into a plugin).
template <class F>
int guarded(oms_error* err, F&& f) {
    try {
        f();
        return OMS_OK;
    } catch (const DbError& e) {
        set_db_error(err, e);
    } catch (const PluginError& e) {
        set_error(err, 500, "registration_refused", e.what());
    } catch (const std::exception& e) {
        set_error(err, 500, "internal_error", e.what());
    }
    return OMS_FAIL;
}

bool registration_open(oms_plugin* self, oms_error* err) {
    if (self && self->runtime->registering() == self->plugin) return true;
    set_error(err, 500, "registration_closed", "registration is only possible inside the plugin's init");
    return false;
}

std::string cstr(const char* s) { return s ? s : ""; }

// Whether a definition the plugin built reaches `field`: a plugin built
// against an older header has a shorter struct, a newer one a longer one; the
// host reads only what both know (abi.h's versioning rule).
#define OMS_DEF_HAS(def, field) \
    ((def)->struct_size >= offsetof(std::remove_pointer_t<decltype(def)>, field) + sizeof((def)->field))

// Refuses a definition shorter than ABI 1.0's (whose last field is `last_10`).
#define OMS_REQUIRE_DEF(def, what, last_10)                                                                 \
    do {                                                                                                    \
        if (!(def)) throw PluginError(what " definition is missing");                                      \
        if (!OMS_DEF_HAS(def, last_10))                                                                     \
            throw PluginError(what " definition is " + std::to_string((def)->struct_size) +                \
                              " bytes, shorter than its first version (" +                                  \
                              std::to_string(offsetof(std::remove_pointer_t<decltype(def)>, last_10) +      \
                                             sizeof((def)->last_10)) +                                      \
                              "): was the plugin built against <oms/abi.h>?");                              \
    } while (0)

bool valid_method(std::string_view m) {
    return m == "GET" || m == "POST" || m == "PUT" || m == "PATCH" || m == "DELETE";
}

// ---- registration ----
int register_route(oms_plugin* self, const oms_route_def* d, oms_error* err) {
    if (!registration_open(self, err)) return OMS_FAIL;
    return guarded(err, [&] {
        OMS_REQUIRE_DEF(d, "route", openapi);
        if (!d->method || !d->path || !d->handler) throw PluginError("route definition is incomplete");
        if (!valid_method(d->method)) throw PluginError(std::string("route method '") + d->method + "' is not supported");
        if (d->path[0] != '/') throw PluginError(std::string("route path '") + d->path + "' must start with /");
        RouteInfo r;
        r.plugin = self->plugin->name;
        r.method = d->method;
        r.path = d->path;
        r.flags = d->flags;
        r.role = cstr(d->role);
        if (!r.role.empty()) r.flags |= OMS_ROUTE_AUTH;
        r.handler = d->handler;
        r.user_data = d->user_data;
        r.summary = cstr(d->summary);
        r.openapi = cstr(d->openapi);
        r.owner = self->plugin;
        try {
            (void)openapi_fragment(r.openapi);
        } catch (const std::exception& e) {
            throw PluginError("route " + r.method + " " + r.path + ": " + e.what());
        }
        self->runtime->add_route(std::move(r));
    });
}

int register_migration(oms_plugin* self, const oms_migration_def* d, oms_error* err) {
    if (!registration_open(self, err)) return OMS_FAIL;
    return guarded(err, [&] {
        OMS_REQUIRE_DEF(d, "migration", sql);
        if (!d->name || d->version == 0) throw PluginError("migration definition is incomplete");
        self->runtime->add_migration({self->plugin->name, d->version, d->name, std::string(sv(d->sql))});
    });
}

int subscribe(oms_plugin* self, const oms_subscription_def* d, oms_error* err) {
    if (!registration_open(self, err)) return OMS_FAIL;
    return guarded(err, [&] {
        OMS_REQUIRE_DEF(d, "subscription", user_data);
        if (!d->event || !d->handler) throw PluginError("subscription definition is incomplete");
        uint32_t flags = OMS_DEF_HAS(d, flags) ? d->flags : 0u;
        self->runtime->add_subscription({self->plugin->name, d->event, d->handler, d->user_data,
                                         (flags & OMS_SUBSCRIBE_AFTER_COMMIT) != 0, {},
                                         (flags & OMS_SUBSCRIBE_OPTIONAL) != 0, self->plugin});
    });
}

int register_service(oms_plugin* self, const oms_service_def* d, oms_error* err) {
    if (!registration_open(self, err)) return OMS_FAIL;
    return guarded(err, [&] {
        OMS_REQUIRE_DEF(d, "service", description);
        if (!d->name || !d->handler) throw PluginError("service definition is incomplete");
        ServiceInfo s{self->plugin->name, d->name, cstr(d->description), d->handler, d->user_data, self->plugin,
                      nullptr, nullptr};
        std::string what = "service '" + s.name + "' of plugin " + s.plugin;
        if (OMS_DEF_HAS(d, args_schema) && d->args_schema)
            s.args = JsonContract::compile(d->args_schema, what + " (arguments)");
        if (OMS_DEF_HAS(d, result_schema) && d->result_schema)
            s.result = JsonContract::compile(d->result_schema, what + " (result)");
        self->runtime->add_service(std::move(s));
    });
}

int register_event(oms_plugin* self, const oms_event_def* d, oms_error* err) {
    if (!registration_open(self, err)) return OMS_FAIL;
    return guarded(err, [&] {
        OMS_REQUIRE_DEF(d, "event", payload_schema);
        if (!d->name || !*d->name || !d->payload_schema) throw PluginError("event definition is incomplete");
        std::string name = d->name;
        // Letters, digits, '.', '_', '-': it is also a channel id and a JSON pointer step in AsyncAPI.
        if (name.size() > 200 || !std::all_of(name.begin(), name.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
            }))
            throw PluginError("event name '" + name + "' must be 1-200 of [A-Za-z0-9._-]");
        self->runtime->add_event({self->plugin->name, name, cstr(d->summary),
                                  JsonContract::compile(d->payload_schema,
                                                        "event '" + name + "' of plugin " + self->plugin->name)});
        self->plugin->declared_events = true;
    });
}

int register_service_use(oms_plugin* self, const oms_service_use_def* d, oms_error* err) {
    if (!registration_open(self, err)) return OMS_FAIL;
    return guarded(err, [&] {
        OMS_REQUIRE_DEF(d, "service use", flags);
        if (!d->service || !*d->service) throw PluginError("service use definition is incomplete");
        self->runtime->add_service_use({self->plugin->name, d->service, (d->flags & OMS_USE_OPTIONAL) != 0});
        self->plugin->declared_calls = true;
    });
}

int register_job(oms_plugin* self, const oms_job_def* d, oms_error* err) {
    if (!registration_open(self, err)) return OMS_FAIL;
    return guarded(err, [&] {
        OMS_REQUIRE_DEF(d, "job", user_data);
        if (!d->name || !d->handler || d->interval_ms < 10) throw PluginError("job definition is incomplete (interval >= 10 ms)");
        self->runtime->add_job({self->plugin->name, d->name, std::chrono::milliseconds(d->interval_ms), d->handler,
                                d->user_data, self->plugin});
    });
}

int register_task(oms_plugin* self, const oms_task_def* d, oms_error* err) {
    if (!registration_open(self, err)) return OMS_FAIL;
    return guarded(err, [&] {
        OMS_REQUIRE_DEF(d, "task", max_attempts);
        if (!d->name || !d->handler) throw PluginError("task definition is incomplete");
        if (std::string_view(d->name).find('\n') != std::string_view::npos)
            throw PluginError("a task's name is one line");
        uint32_t max_attempts = d->max_attempts;
        self->runtime->add_task({self->plugin->name, d->name, d->handler, d->user_data, max_attempts, self->plugin});
    });
}

int register_command(oms_plugin* self, const oms_command_def* d, oms_error* err) {
    if (!registration_open(self, err)) return OMS_FAIL;
    return guarded(err, [&] {
        OMS_REQUIRE_DEF(d, "command", user_data);
        if (!d->name || !d->handler) throw PluginError("command definition is incomplete");
        CommandInfo c{self->plugin->name, d->name, cstr(d->help), {}, d->handler, d->user_data, self->plugin};
        // Options are stepped through by the size the plugin was built with
        // (ABI 1.2 option_size; before it, ABI 1.0's oms_option_def).
        size_t step = OMS_DEF_HAS(d, option_size) && d->option_size ? d->option_size : sizeof(oms_option_def);
        if (step < sizeof(oms_option_def)) throw PluginError("command option definitions are truncated");
        const auto* base = reinterpret_cast<const unsigned char*>(d->options);
        for (size_t i = 0; i < d->option_count; ++i) {
            const auto* o = reinterpret_cast<const oms_option_def*>(base + i * step);
            c.options.push_back({cstr(o->name), cstr(o->help), o->flags});
        }
        self->runtime->add_command(std::move(c));
    });
}

// ---- config, log ----
oms_str config_get(oms_plugin* self, oms_str key) {
    const std::string* v = self->runtime->config().find(sv(key));
    return v ? os(*v) : kAbsent;
}

void log_message(oms_plugin* self, int level, oms_str message) {
    auto lvl = static_cast<spdlog::level::level_enum>(std::clamp(level, 0, 5));
    const char* plugin = self ? self->plugin->name.c_str() : "?";
    if (t_current_request)
        spdlog::log(lvl, "[{}] {} (request {})", plugin, sv(message), t_current_request->request_id);
    else
        spdlog::log(lvl, "[{}] {}", plugin, sv(message));
}

// ---- errors ----
oms_error* error_new() { return new oms_error(); }
void error_free(oms_error* e) { delete e; }
void error_set(oms_error* e, int status, oms_str code, oms_str detail) {
    set_error(e, status, sv(code), sv(detail));
}
void error_add_field(oms_error* e, oms_str field, oms_str message) {
    if (e) e->fields.emplace_back(std::string(sv(field)), std::string(sv(message)));
}
void error_add_header(oms_error* e, oms_str name, oms_str value) {
    std::string n(sv(name)), v(sv(value));
    // Header injection: a CR or LF would split the response.
    if (!e || n.empty() || n.find_first_of("\r\n: ") != std::string::npos || v.find_first_of("\r\n") != std::string::npos)
        return;
    e->headers.emplace_back(std::move(n), std::move(v));
}
void error_add_member(oms_error* e, oms_str name, oms_str value) {
    std::string_view n = sv(name);
    bool good_name = !n.empty() && n.size() <= 64 && std::isalpha(static_cast<unsigned char>(n[0])) &&
                     std::all_of(n.begin(), n.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
    if (!e || !good_name || !nlohmann::json::accept(sv(value))) return;
    e->members.emplace_back(std::string(n), std::string(sv(value)));
}
int error_status(const oms_error* e) { return e ? e->status : 0; }
oms_str error_code(const oms_error* e) { return e ? os(e->code) : kAbsent; }
oms_str error_detail(const oms_error* e) { return e ? os(e->detail) : kAbsent; }
oms_str error_sqlstate(const oms_error* e) { return e ? os(e->sqlstate) : kAbsent; }
size_t error_field_count(const oms_error* e) { return e ? e->fields.size() : 0; }
void error_field(const oms_error* e, size_t i, oms_str* field, oms_str* message) {
    if (!e || i >= e->fields.size()) {
        *field = *message = kAbsent;
        return;
    }
    *field = os(e->fields[i].first);
    *message = os(e->fields[i].second);
}

// ---- buffers ----
oms_buffer* buffer_new() { return new oms_buffer(); }
void buffer_free(oms_buffer* b) { delete b; }
void buffer_append(oms_buffer* b, oms_str bytes) {
    if (b && bytes.data) b->data.append(bytes.data, bytes.len);
}
oms_str buffer_view(const oms_buffer* b) { return b ? os(b->data) : kAbsent; }

// ---- requests ----
oms_str request_method(const oms_request* r) { return os(r->ctx->method); }
oms_str request_path(const oms_request* r) { return os(r->ctx->path); }
oms_str request_param(const oms_request* r, oms_str name) {
    for (const auto& [k, v] : r->ctx->params)
        if (k == sv(name)) return os(v);
    return kAbsent;
}
oms_str request_query(const oms_request* r, oms_str name) {
    for (const auto& [k, v] : r->ctx->query)
        if (k == sv(name)) return os(v);
    return kAbsent;
}
oms_str request_header(const oms_request* r, oms_str name) {
    std::string lower(sv(name));
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::string* v = r->ctx->header(lower);
    return v ? os(*v) : kAbsent;
}
oms_str request_body(const oms_request* r) { return os(r->ctx->body); }
oms_str request_id(const oms_request* r) { return os(r->ctx->request_id); }
oms_str request_remote_address(const oms_request* r) { return os(r->ctx->remote_address); }
int request_caller(const oms_request* r, oms_caller* out) {
    if (!r->ctx->caller) return 0;
    out->user_id = os(r->ctx->caller->user_id);
    out->role = os(r->ctx->caller->role);
    return 1;
}
int request_tx(oms_request* r, oms_tx** out, oms_error* err) {
    return guarded(err, [&] {
        *out = &request_transaction(*r->ctx);
    });
}

// ---- responses ----
void response_set_status(oms_response* r, int status) {
    r->reply.status = (status >= 100 && status <= 599) ? status : 500;
}
void response_set_header(oms_response* r, oms_str name, oms_str value) {
    std::string n(sv(name)), v(sv(value));
    // Header injection: a CR or LF would split the response.
    if (n.find_first_of("\r\n:") != std::string::npos || v.find_first_of("\r\n") != std::string::npos) return;
    r->reply.headers.emplace_back(std::move(n), std::move(v));
}
void response_set_body(oms_response* r, oms_str body, oms_str content_type) {
    r->reply.body.assign(sv(body));
    r->reply.content_type.assign(sv(content_type));
}

// ---- database ----
int tx_begin(oms_plugin* self, oms_tx** out, oms_error* err) {
    return guarded(err, [&] {
        auto tx = std::make_unique<oms_tx>();
        tx->runtime = self->runtime;
        tx->lease.emplace(self->runtime->database().acquire());
        tx->lease->begin();
        tx->lease->reset_session_at_end();
        *out = tx.release();
    });
}
int tx_commit(oms_tx* tx, oms_error* err) {
    std::unique_ptr<oms_tx> owned(tx);
    return guarded(err, [&] {
        owned->lease->commit();
        if (owned->enqueued_tasks) owned->runtime->wake_tasks();
    });
}
void tx_rollback(oms_tx* tx) {
    std::unique_ptr<oms_tx> owned(tx);
    if (owned && owned->lease) owned->lease->rollback();
}

// The text parameters of a statement; PostgreSQL's text protocol cannot carry NUL bytes.
Params text_params(const oms_param* params, size_t n) {
    Params values;
    values.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        const oms_param& p = params[i];
        switch (p.type) {
            case OMS_PARAM_NULL: values.emplace_back(std::nullopt); break;
            case OMS_PARAM_TEXT:
                if (std::memchr(p.text.data, '\0', p.text.len))
                    throw DbError(400, "invalid_parameter", "22021", "a text value contains a NUL byte");
                values.emplace_back(std::string(sv(p.text)));
                break;
            case OMS_PARAM_INT64: values.emplace_back(std::to_string(p.int64)); break;
            case OMS_PARAM_BOOL: values.emplace_back(p.boolean ? "true" : "false"); break;
            case OMS_PARAM_FLOAT64: {
                if (!std::isfinite(p.float64)) throw DbError(400, "invalid_parameter", "", "non-finite number");
                char buf[64];
                std::snprintf(buf, sizeof buf, "%.17g", p.float64);
                values.emplace_back(buf);
                break;
            }
            default: throw std::invalid_argument("unknown parameter type " + std::to_string(p.type));
        }
    }
    return values;
}

int tx_query(oms_tx* tx, oms_str sql, const oms_param* params, size_t n, oms_result** out, oms_error* err) {
    return guarded(err, [&] { *out = new oms_result(tx->lease->query(sv(sql), text_params(params, n))); });
}
size_t result_rows(const oms_result* r) { return static_cast<size_t>(r->res.rows()); }
size_t result_columns(const oms_result* r) { return static_cast<size_t>(r->res.columns()); }
oms_str result_column_name(const oms_result* r, size_t c) {
    if (c >= result_columns(r)) return kAbsent;
    return os(r->res.column_name(static_cast<int>(c)));
}
int result_is_null(const oms_result* r, size_t row, size_t c) {
    if (row >= result_rows(r) || c >= result_columns(r)) return 1;
    return r->res.is_null(static_cast<int>(row), static_cast<int>(c)) ? 1 : 0;
}
oms_str result_value(const oms_result* r, size_t row, size_t c) {
    if (row >= result_rows(r) || c >= result_columns(r)) return kAbsent;
    return os(r->res.value(static_cast<int>(row), static_cast<int>(c)));
}
uint64_t result_affected(const oms_result* r) { return r->res.affected(); }
void result_free(oms_result* r) { delete r; }

// Stores a task row in `tx` (queued: it travels with the transaction's next
// round trip or its COMMIT); the task threads are woken after the commit.
void store_task(oms_tx& tx, std::string_view name, std::string payload_json, std::optional<std::string> key,
                std::optional<std::string> ordering_key) {
    static const std::string sql =
        "INSERT INTO oms_tasks (name, key, payload, ordering_key) VALUES ($1, $2, $3::jsonb, $4) "
        "ON CONFLICT ON CONSTRAINT oms_tasks_key DO NOTHING";
    tx.lease->query_later(sql, {std::string(name), std::move(key), std::move(payload_json), std::move(ordering_key)});
    tx.enqueued_tasks = true;
}

// ---- events and services ----

// Fills `err` with a 500 contract_violation and logs it; true, for `return violated(...)`.
bool violated(oms_error* err, const std::string& detail) {
    set_error(err, 500, "contract_violation", detail);
    spdlog::error("{}", detail);
    return true;
}

// With OMS_CONTRACT_CHECKS: a 500 contract_violation when a payload does not
// match its event's declaration, or when a plugin that declares events
// publishes one no loaded plugin declares. A plugin that declares none (built
// before ABI 1.3, or rebuilt without declaring) is warned once per event
// instead. Who declares it is not checked: a test double may stand in for the
// publisher, as long as it speaks the contract.
bool publish_breaks_contract(const Runtime& rt, std::string_view event, std::string_view payload, oms_error* err) {
    const LoadedPlugin* publisher = ActivePlugin::current();
    const EventInfo* declared = rt.find_event(event);
    std::string who = publisher ? "plugin " + publisher->name : "the host";
    if (!declared) {
        if (publisher && !publisher->declared_events) {
            warn_once(who + " publishes the event '" + std::string(event) +
                      "', which no loaded plugin declares (declare it: p.event)");
            return false;
        }
        return violated(err, who + " published the event '" + std::string(event) + "', which no loaded plugin declares");
    }
    auto why = declared->payload->violation(nlohmann::json::parse(payload, nullptr, false));
    return why && violated(err, "the payload of the event '" + std::string(event) + "' published by " + who +
                                    " does not match its declaration by plugin " + declared->plugin + ": " + *why);
}

int event_publish(oms_tx* tx, oms_str event, oms_str payload, oms_error* err) {
    if (!tx) {
        set_error(err, 500, "no_transaction", "events are published inside a transaction");
        return OMS_FAIL;
    }
    if (tx->event_depth >= 16) {
        set_error(err, 500, "event_loop", "events nested more than 16 deep");
        return OMS_FAIL;
    }
    if (tx->runtime->contract_checks() && publish_breaks_contract(*tx->runtime, sv(event), sv(payload), err))
        return OMS_FAIL;
    ++tx->event_depth;
    int rc = OMS_OK;
    for (const auto& s : tx->runtime->subscriptions()) {
        if (!event_matches(s.pattern, sv(event))) continue;
        if (s.after_commit) {
            // Stored with the publisher's transaction; delivered after it commits.
            rc = guarded(err, [&] {
                std::string body = R"({"subscriber":)" + nlohmann::json(s.id).dump() +
                                   R"(,"event":)" + nlohmann::json(std::string(sv(event))).dump() +
                                   R"(,"payload":)" + std::string(sv(payload)) + "}";
                store_task(*tx, kDeliverEventTask, std::move(body), std::nullopt, s.id);
            });
            if (rc != OMS_OK) break;
            continue;
        }
        {
            ActivePlugin active(s.owner);
            rc = s.handler(s.user_data, tx, event, payload, err);
        }
        if (rc != OMS_OK) {
            if (err && err->status == 0) set_error(err, 500, "subscriber_failed", "an event subscriber failed");
            spdlog::warn("subscriber of plugin {} failed on event {}: {}", s.plugin, sv(event), err ? err->detail : "");
            break;
        }
    }
    --tx->event_depth;
    return rc;
}

// With OMS_CONTRACT_CHECKS: a call the active plugin did not declare (when
// it declares calls at all; else a warning once), or arguments unlike the
// service's declaration.
bool call_breaks_contract(const Runtime& rt, const ServiceInfo& s, std::string_view called, std::string_view args,
                          oms_error* err) {
    const LoadedPlugin* caller = ActivePlugin::current();
    std::string who = caller ? "plugin " + caller->name : "the host";
    if (caller && caller->name != s.plugin) {
        bool declared = false;
        for (const auto& u : rt.service_uses())
            declared = declared || (u.plugin == caller->name && (u.service == s.name || u.service == called));
        if (!declared && !caller->declared_calls)
            warn_once(who + " calls the service '" + s.name + "' without declaring it (declare it: p.calls)");
        else if (!declared)
            return violated(err, who + " called the service '" + s.name + "', which it does not declare it calls");
    }
    if (!s.args) return false;
    auto why = s.args->violation(nlohmann::json::parse(args, nullptr, false));
    return why && violated(err, who + " called the service '" + s.name + "' with arguments unlike its declaration: " +
                                    *why);
}

int service_call(oms_tx* tx, oms_str name, oms_str args, oms_buffer* out, oms_error* err) {
    Runtime& rt = Runtime::current();
    const ServiceInfo* s = rt.find_service(sv(name));
    if (!s) {
        set_error(err, 501, "service_unavailable",
                  "service '" + std::string(sv(name)) + "' is not offered by any loaded plugin");
        return OMS_FAIL;
    }
    bool checked = rt.contract_checks();
    if (checked && call_breaks_contract(rt, *s, sv(name), sv(args), err)) return OMS_FAIL;
    size_t answer_from = out ? out->data.size() : 0;
    int rc;
    {
        ActivePlugin active(s->owner);
        rc = s->handler(s->user_data, tx, args, out, err);
    }
    if (rc != OMS_OK && err && err->status == 0) set_error(err, 500, "service_failed", "a service call failed");
    if (rc == OMS_OK && checked && s->result && out) {
        auto answer = nlohmann::json::parse(std::string_view(out->data).substr(answer_from), nullptr, false);
        if (auto why = s->result->violation(answer)) {
            violated(err, "the service '" + s->name + "' of plugin " + s->plugin +
                              " answered a result unlike its declaration: " + *why);
            return OMS_FAIL;
        }
    }
    return rc;
}

int service_exists(oms_str name) { return Runtime::current().find_service(sv(name)) ? 1 : 0; }

// ---- tokens, commands ----
int token_issue(oms_plugin* self, oms_str subject, oms_str role, oms_buffer* out, int64_t* expires_in,
                oms_error* err) {
    return guarded(err, [&] {
        if (sv(subject).empty() || sv(role).empty()) throw std::invalid_argument("a token needs a subject and a role");
        auto issued = self->runtime->tokens().issue(sv(subject), sv(role));
        out->data = std::move(issued.token);
        if (expires_in) *expires_in = issued.expires_in;
    });
}

oms_str command_arg(const oms_command_args* a, oms_str name) {
    for (const auto& [k, v] : a->values)
        if (k == sv(name)) return os(v);
    return kAbsent;
}

// ---- ABI 1.1 ----
int tx_query_deferred(oms_tx* tx, oms_str sql, const oms_param* params, size_t n, oms_result** out, oms_error* err) {
    return guarded(err, [&] { *out = new oms_result(tx->lease->query_later(sv(sql), text_params(params, n))); });
}
int result_wait(oms_result* r, oms_error* err) {
    if (!r->pending) return OMS_OK;
    return guarded(err, [&] {
        r->res = Database::Lease::wait(*r->pending);
        r->pending.reset();
    });
}

// Every host drops its cached answers of `service` for `key` when `tx` commits
// (a NOTIFY queued on the transaction; every host's NotifyListener receives it).
int cache_invalidate(oms_tx* tx, oms_str service, oms_str key, oms_error* err) {
    if (!tx || !tx->lease) {
        set_error(err, 500, "no_transaction", "cache_invalidate needs a transaction");
        return OMS_FAIL;
    }
    return guarded(err, [&] { queue_cache_invalidation(*tx->lease, sv(service), sv(key)); });
}

int tx_enqueue_task(oms_tx* tx, oms_str name, oms_str payload_json, oms_str key, oms_error* err) {
    if (!tx || !tx->lease) {
        set_error(err, 500, "no_transaction", "tx_enqueue_task needs a transaction");
        return OMS_FAIL;
    }
    if (tx->read_only) {
        set_error(err, 500, "read_only_route", "a read-only route cannot enqueue a task (it has no transaction)");
        return OMS_FAIL;
    }
    if (!tx->runtime->find_task(sv(name))) {
        set_error(err, 501, "service_unavailable",
                  "no loaded plugin registers the task '" + std::string(sv(name)) + "'");
        return OMS_FAIL;
    }
    return guarded(err, [&] {
        auto payload = nlohmann::json::parse(sv(payload_json), nullptr, false);
        if (!payload.is_object()) throw std::invalid_argument("a task's payload must be a JSON object");
        store_task(*tx, sv(name), std::string(sv(payload_json)),
                   key.len > 0 ? std::optional<std::string>(std::string(sv(key))) : std::nullopt, std::nullopt);
    });
}

// Every entry of the table is called through a shield: an exception (a
// bad_alloc while building a string, say) never unwinds into a plugin; the
// call answers as it would for bad input (OMS_FAIL, absent, 0).
template <auto F, class = decltype(F)>
struct Shield;
template <auto F, class R, class... A>
struct Shield<F, R (*)(A...)> {
    static R call(A... args) noexcept {
        try {
            return F(args...);
        } catch (...) {
            if constexpr (std::is_same_v<R, int>) return OMS_FAIL;
            else if constexpr (!std::is_void_v<R>) return R{};
        }
    }
};
#define SHIELD(f) &Shield<f>::call

const oms_host_api kApi = {
    OMS_ABI_MAJOR, OMS_ABI_MINOR, sizeof(oms_host_api),
    SHIELD(register_route), SHIELD(register_migration), SHIELD(subscribe), SHIELD(register_service),
    SHIELD(register_job), SHIELD(register_command),
    SHIELD(config_get), SHIELD(log_message),
    SHIELD(error_new), SHIELD(error_free), SHIELD(error_set), SHIELD(error_add_field), SHIELD(error_status),
    SHIELD(error_code), SHIELD(error_detail), SHIELD(error_sqlstate),
    SHIELD(error_field_count), SHIELD(error_field),
    SHIELD(buffer_new), SHIELD(buffer_free), SHIELD(buffer_append), SHIELD(buffer_view),
    SHIELD(request_method), SHIELD(request_path), SHIELD(request_param), SHIELD(request_query),
    SHIELD(request_header), SHIELD(request_body), SHIELD(request_id),
    SHIELD(request_remote_address), SHIELD(request_caller), SHIELD(request_tx),
    SHIELD(response_set_status), SHIELD(response_set_header), SHIELD(response_set_body),
    SHIELD(tx_begin), SHIELD(tx_commit), SHIELD(tx_rollback), SHIELD(tx_query), SHIELD(result_rows),
    SHIELD(result_columns), SHIELD(result_column_name), SHIELD(result_is_null),
    SHIELD(result_value), SHIELD(result_affected), SHIELD(result_free),
    SHIELD(event_publish), SHIELD(service_call), SHIELD(service_exists),
    SHIELD(token_issue),
    SHIELD(command_arg),
    SHIELD(error_add_header),
    SHIELD(tx_query_deferred), SHIELD(result_wait),
    SHIELD(cache_invalidate),
    SHIELD(register_task), SHIELD(tx_enqueue_task), SHIELD(error_add_member),
    SHIELD(register_event), SHIELD(register_service_use),
};

}  // namespace

const oms_host_api* Runtime::api() { return &kApi; }

int deliver_event(void* runtime, const oms_task* task, oms_error* err) {
    const SubscriptionInfo* target = nullptr;
    std::string event, payload;
    int rc = guarded(err, [&] {
        auto body = nlohmann::json::parse(sv(task->payload_json));
        std::string subscriber = body.at("subscriber").get<std::string>();
        event = body.at("event").get<std::string>();
        payload = body.at("payload").dump();
        for (const auto& s : static_cast<Runtime*>(runtime)->subscriptions())
            if (s.after_commit && s.id == subscriber) target = &s;
        // Not loaded here (another host has it, or it was removed): tried again later.
        if (!target) throw std::runtime_error("no loaded after-commit subscriber " + subscriber);
    });
    if (rc != OMS_OK) return rc;
    ActivePlugin active(target->owner);
    rc = target->handler(target->user_data, nullptr, os(event), os(payload), err);
    if (rc != OMS_OK && err->status == 0) set_error(err, 500, "subscriber_failed", "an after-commit subscriber failed");
    return rc;
}

void set_current_request(const RequestContext* ctx) { t_current_request = ctx; }

}  // namespace oms::host
