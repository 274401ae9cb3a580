// Declared plugin contracts (ABI 1.3): the events a plugin publishes and the
// services it offers and calls, each with a JSON Schema. This room holds
//  - JsonContract: one compiled schema and its check (valijson);
//  - ActivePlugin: which plugin's code runs on this thread, so a publish or a
//    call can be held to that plugin's declarations;
//  - the start-up check that every subscription and declared call has a
//    provider, and the documents drawn from the declarations
//    (`oms-host contracts`, GET /asyncapi.json, the README's sections).
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace oms::host {

class Runtime;
struct LoadedPlugin;

// A JSON Schema (the subset the SDK's oms::schema builders write: type,
// properties, required, items, enum, anyOf, minimum/maximum, lengths, pattern,
// format date-time) compiled once at registration.
class JsonContract {
public:
    // Throws PluginError naming `what` when `schema_text` is not a JSON object
    // schema valijson can compile.
    static std::shared_ptr<const JsonContract> compile(std::string_view schema_text, const std::string& what);
    ~JsonContract();

    const nlohmann::json& schema() const { return schema_; }
    // Empty when `value` matches; otherwise the first few mismatches, one line.
    std::optional<std::string> violation(const nlohmann::json& value) const;

private:
    struct Compiled;
    JsonContract(nlohmann::json schema, std::unique_ptr<Compiled> compiled);
    nlohmann::json schema_;
    std::unique_ptr<Compiled> compiled_;
};

// The plugin whose handler runs on this thread (null: the host's own code).
// Set around every call into a plugin; restored on the way out, so nesting
// (a route that calls a service that publishes) attributes each step.
class ActivePlugin {
public:
    explicit ActivePlugin(const LoadedPlugin* p);
    ~ActivePlugin();
    ActivePlugin(const ActivePlugin&) = delete;
    ActivePlugin& operator=(const ActivePlugin&) = delete;
    static const LoadedPlugin* current();

private:
    const LoadedPlugin* previous_;
};

// Logs `message` as a warning the first time it is given (per process).
void warn_once(const std::string& message);

// "order.paid" matches itself, "order.*" and "*".
bool event_matches(std::string_view pattern, std::string_view event);

// Whether `p` was built against ABI 1.3 or later, so its contracts are
// declared and held (older plugins are not: they could not declare them).
bool declares_contracts(const LoadedPlugin& p);

// After every init: each subscription (not "*", not optional) matches a
// declared event, and each declared, non-optional call a loaded service.
// Throws PluginError, one line naming the plugin and what is missing. Run by
// `serve`, `migrate` and plugin commands; the commands that only describe the
// plugins (contracts, plugins, routes) run anyway and show the gaps.
void check_contracts_provided(const Runtime& rt);

// GET /asyncapi.json: an AsyncAPI 3.0 document of the loaded plugins'
// declared events, who publishes and who subscribes to each.
nlohmann::json asyncapi_document(const Runtime& rt);

// `oms-host contracts`: every plugin's declarations as JSON, or as the
// Markdown the README's plugin sections are generated from.
nlohmann::json contracts_json(const Runtime& rt);
std::string contracts_markdown(const Runtime& rt, std::string_view plugin);

}  // namespace oms::host
