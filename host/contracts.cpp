#include "contracts.hpp"

#include <spdlog/spdlog.h>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <mutex>
#include <set>

#include "runtime.hpp"

namespace oms::host {

using nlohmann::json;

// ---- JsonContract ----

struct JsonContract::Compiled {
    valijson::Schema schema;
};

JsonContract::JsonContract(json schema, std::unique_ptr<Compiled> compiled)
    : schema_(std::move(schema)), compiled_(std::move(compiled)) {}
JsonContract::~JsonContract() = default;

std::shared_ptr<const JsonContract> JsonContract::compile(std::string_view schema_text, const std::string& what) {
    json schema = json::parse(schema_text, nullptr, false);
    if (schema.is_discarded() || !schema.is_object())
        throw PluginError(what + ": its schema is not a JSON object");
    auto compiled = std::make_unique<Compiled>();
    try {
        valijson::SchemaParser parser;
        valijson::adapters::NlohmannJsonAdapter adapter(schema);
        parser.populateSchema(adapter, compiled->schema);
    } catch (const std::exception& e) {
        throw PluginError(what + ": its schema cannot be compiled: " + e.what());
    }
    return std::shared_ptr<const JsonContract>(new JsonContract(std::move(schema), std::move(compiled)));
}

std::optional<std::string> JsonContract::violation(const json& value) const {
    // One per thread: it caches the compiled regular expressions of `pattern`s.
    thread_local valijson::Validator validator;
    valijson::ValidationResults results;
    valijson::adapters::NlohmannJsonAdapter adapter(value);
    try {
        if (validator.validate(compiled_->schema, adapter, &results)) return std::nullopt;
    } catch (const std::exception& e) {
        // valijson throws on some mismatches (a `format` met by an object, say).
        return std::string("/: ") + e.what();
    }
    // valijson reports each mismatch, then one "Failed to validate against ..."
    // line per enclosing schema; the leaves say what is wrong.
    std::string out;
    int shown = 0;
    valijson::ValidationResults::Error e;
    while (results.popError(e)) {
        if (e.description.rfind("Failed to validate against", 0) == 0 && !out.empty()) continue;
        std::string where;
        for (const auto& step : e.context)
            if (step != "<root>") where += "/" + (step.size() > 2 && step.front() == '[' ? step.substr(1, step.size() - 2) : step);
        if (shown++ == 3) {
            out += "; …";
            break;
        }
        if (!out.empty()) out += "; ";
        out += (where.empty() ? "/" : where) + ": " + e.description;
    }
    return out;
}

// ---- ActivePlugin ----

namespace {
thread_local const LoadedPlugin* t_active = nullptr;
}  // namespace

ActivePlugin::ActivePlugin(const LoadedPlugin* p) : previous_(t_active) { t_active = p; }
ActivePlugin::~ActivePlugin() { t_active = previous_; }
const LoadedPlugin* ActivePlugin::current() { return t_active; }

void warn_once(const std::string& message) {
    static std::mutex mutex;
    static std::set<std::string> said;
    {
        std::lock_guard lock(mutex);
        if (!said.insert(message).second) return;
    }
    spdlog::warn("{}", message);
}

bool declares_contracts(const LoadedPlugin& p) { return p.abi_major == 1 && p.abi_minor >= 3; }

bool event_matches(std::string_view pattern, std::string_view event) {
    if (pattern == "*") return true;
    if (pattern.size() >= 2 && pattern.substr(pattern.size() - 2) == ".*")
        return event.substr(0, pattern.size() - 1) == pattern.substr(0, pattern.size() - 1);
    return pattern == event;
}

// ---- the start-up check ----

namespace {
// Whether a loaded plugin declares an event `s` receives ("*" needs none).
bool subscription_provided(const Runtime& rt, const SubscriptionInfo& s) {
    if (s.pattern == "*") return true;
    for (const auto& e : rt.events())
        if (event_matches(s.pattern, e.name)) return true;
    return false;
}
}  // namespace

void check_contracts_provided(const Runtime& rt) {
    for (const auto& s : rt.subscriptions()) {
        if (s.optional || subscription_provided(rt, s)) continue;
        std::string what = "plugin " + s.plugin + " subscribes to '" + s.pattern +
                           "', which no loaded plugin declares";
        if (s.owner && declares_contracts(*s.owner))
            throw PluginError(what + " (load the plugin that publishes it, or subscribe optionally)");
        // Built before contracts existed: it could not say the event was optional.
        spdlog::warn("{} (the subscriber predates ABI 1.3; starting anyway)", what);
    }
    for (const auto& u : rt.service_uses())
        if (!u.optional && !rt.find_service(u.service))
            throw PluginError("plugin " + u.plugin + " calls the service '" + u.service +
                              "', which no loaded plugin offers (load the plugin that offers it, or declare the "
                              "call optional)");
    for (const auto& s : rt.services())
        if (s.owner && declares_contracts(*s.owner) && (!s.args || !s.result))
            warn_once("service '" + s.name + "' of plugin " + s.plugin +
                      " declares no argument or result schema (.accepts(), .returns()): its callers must guess");
}

// ---- documents ----

namespace {

const json* schema_of(const std::shared_ptr<const JsonContract>& c) { return c ? &c->schema() : nullptr; }

// Which subscribers of the loaded plugins receive `event`.
std::vector<const SubscriptionInfo*> subscribers_of(const Runtime& rt, std::string_view event) {
    std::vector<const SubscriptionInfo*> out;
    for (const auto& s : rt.subscriptions())
        if (event_matches(s.pattern, event)) out.push_back(&s);
    return out;
}

}  // namespace

json asyncapi_document(const Runtime& rt) {
    json channels = json::object(), operations = json::object(), messages = json::object();
    for (const auto& e : rt.events()) {
        // An event's name is its channel, its message and (prefixed) its operations.
        json message = {{"name", e.name},
                        {"title", e.name},
                        {"summary", e.summary},
                        {"contentType", "application/json"},
                        {"payload", e.payload->schema()},
                        {"x-oms-plugin", e.plugin}};
        messages[e.name] = std::move(message);
        channels[e.name] = {{"address", e.name},
                            {"description", e.summary},
                            {"messages", {{e.name, {{"$ref", "#/components/messages/" + e.name}}}}}};
        json channel_ref = {{"$ref", "#/channels/" + e.name}};
        json message_ref = json::array({{{"$ref", "#/channels/" + e.name + "/messages/" + e.name}}});
        operations[e.plugin + ".publishes." + e.name] = {
            {"action", "send"},
            {"channel", channel_ref},
            {"summary", "Plugin " + e.plugin + " publishes it inside the transaction that made the change."},
            {"messages", message_ref}};
        std::set<std::string> seen;
        for (const SubscriptionInfo* s : subscribers_of(rt, e.name)) {
            std::string id = s->plugin + ".receives." + e.name + (s->after_commit ? ".after_commit" : "");
            if (!seen.insert(id).second) continue;
            operations[id] = {
                {"action", "receive"},
                {"channel", channel_ref},
                {"summary", "Plugin " + s->plugin +
                                (s->after_commit ? " receives it after the publisher's transaction commits (at least "
                                                   "once, in order)."
                                                 : " receives it inside the publisher's transaction.")},
                {"messages", message_ref}};
        }
    }
    return {{"asyncapi", "3.0.0"},
            {"info",
             {{"title", "OMS domain events"},
              {"version", OMS_VERSION},
              {"description",
               "The events the loaded plugins declare. Money is integer minor units of the payload's currency "
               "(fields marked x-oms-unit: minor), unlike the HTTP API's major units. Fields are only ever "
               "added."}}},
            {"defaultContentType", "application/json"},
            {"channels", std::move(channels)},
            {"operations", std::move(operations)},
            {"components", {{"messages", std::move(messages)}}}};
}

json contracts_json(const Runtime& rt) {
    json plugins = json::array();
    for (const auto& p : rt.plugins()) {
        json events = json::array(), services = json::array(), subscriptions = json::array(), calls = json::array();
        for (const auto& e : rt.events())
            if (e.plugin == p->name)
                events.push_back({{"name", e.name}, {"summary", e.summary}, {"payload", e.payload->schema()}});
        for (const auto& s : rt.services()) {
            if (s.plugin != p->name) continue;
            json entry = {{"name", s.name}, {"description", s.description}};
            if (const json* a = schema_of(s.args)) entry["args"] = *a;
            if (const json* r = schema_of(s.result)) entry["result"] = *r;
            services.push_back(std::move(entry));
        }
        for (const auto& s : rt.subscriptions()) {
            if (s.plugin != p->name) continue;
            subscriptions.push_back({{"event", s.pattern},
                                     {"after_commit", s.after_commit},
                                     {"optional", s.optional},
                                     {"provided", subscription_provided(rt, s)}});
        }
        for (const auto& u : rt.service_uses())
            if (u.plugin == p->name)
                calls.push_back(
                    {{"service", u.service}, {"optional", u.optional}, {"provided", rt.find_service(u.service) != nullptr}});
        plugins.push_back({{"name", p->name},
                           {"version", p->version},
                           {"abi", std::to_string(p->abi_major) + "." + std::to_string(p->abi_minor)},
                           {"declares_contracts", declares_contracts(*p)},
                           {"events", std::move(events)},
                           {"services", std::move(services)},
                           {"subscriptions", std::move(subscriptions)},
                           {"calls", std::move(calls)}});
    }
    return {{"plugins", std::move(plugins)}};
}

// ---- Markdown (the README's generated sections) ----

namespace {

std::string code(std::string_view s) { return "`" + std::string(s) + "`"; }

std::string describe(const json& s);

// "`a` (uuid), `b` (integer, minor units, optional)"
std::string describe_fields(const json& object_schema) {
    const json& props = object_schema.contains("properties") ? object_schema["properties"] : json::object();
    std::set<std::string> required;
    for (const auto& r : object_schema.value("required", json::array())) required.insert(r.get<std::string>());
    std::string out;
    for (auto it = props.begin(); it != props.end(); ++it) {
        if (!out.empty()) out += ", ";
        out += code(it.key()) + " (" + describe(*it) + (required.count(it.key()) ? "" : ", optional") + ")";
    }
    return out.empty() ? "{}" : out;
}

std::string describe(const json& s) {
    if (!s.is_object()) return "any";
    if (s.contains("anyOf")) {
        std::string out;
        for (const auto& alt : s["anyOf"]) out += (out.empty() ? "" : " or ") + describe(alt);
        return out;
    }
    // Draft 7 allows "type": ["string", "null"]; anything but a string is named as JSON.
    std::string type = !s.contains("type") ? "any" : s["type"].is_string() ? s["type"].get<std::string>() : s["type"].dump();
    std::string out;
    if (s.contains("enum")) {
        for (const auto& v : s["enum"])
            out += (out.empty() ? (s["enum"].size() == 1 ? "always " : "one of ") : ", ") +
                   code(v.is_string() ? v.get<std::string>() : v.dump());
    } else if (type == "string" && s.contains("format") && s["format"].is_string()) {
        out = s["format"].get<std::string>();
    } else if (type == "array") {
        out = "array of " + describe(s.value("items", json::object()));
    } else if (type == "object" && s.contains("properties")) {
        out = "{" + describe_fields(s) + "}";
    } else {
        out = type;
    }
    if (s.contains("x-oms-unit") && s["x-oms-unit"] == "minor") out += ", minor units";
    return out;
}

std::string cell(std::string s) {
    for (char& c : s)
        if (c == '|' || c == '\n') c = ' ';
    return s;
}

}  // namespace

std::string contracts_markdown(const Runtime& rt, std::string_view plugin) {
    std::string events, services, uses;
    for (const auto& e : rt.events())
        if (e.plugin == plugin)
            events += "| " + code(e.name) + " | " + cell(e.summary) + " | " + cell(describe_fields(e.payload->schema())) +
                      " |\n";
    for (const auto& s : rt.services()) {
        if (s.plugin != plugin) continue;
        const json* a = schema_of(s.args);
        const json* r = schema_of(s.result);
        services += "| " + code(s.name) + " | " + cell(s.description) + " | " +
                    cell(a ? describe_fields(*a) : "undeclared") + " | " + cell(r ? describe(*r) : "undeclared") +
                    " |\n";
    }
    for (const auto& s : rt.subscriptions())
        if (s.plugin == plugin)
            uses += "- subscribes to " + code(s.pattern) +
                    (s.after_commit ? " after commit" : " in the publisher's transaction") +
                    (s.optional ? " (optional)" : "") + "\n";
    for (const auto& u : rt.service_uses())
        if (u.plugin == plugin) uses += "- calls " + code(u.service) + (u.optional ? " (optional)" : "") + "\n";

    std::string out;
    if (!events.empty())
        out += "| Event | Published when | Payload (money in minor units) |\n|---|---|---|\n" + events + "\n";
    if (!services.empty())
        out += "| Service | What it does | Arguments | Result |\n|---|---|---|---|\n" + services + "\n";
    if (!uses.empty()) out += uses + "\n";
    if (out.empty()) out = "No events or services.\n\n";
    out.pop_back();  // one trailing newline
    return out;
}

}  // namespace oms::host
