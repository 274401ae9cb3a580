#include "openapi.hpp"

#include <oms/abi.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>

#include "runtime.hpp"

#ifndef OMS_VERSION
#define OMS_VERSION "0.0.0"
#endif

namespace oms::host {
namespace {

using json = nlohmann::json;

// The problem+json answers of the host's own middleware, shared as
// components/responses and referenced by every operation they apply to.
struct StandardError {
    int status;
    const char* name;
    const char* description;
    bool retry_after;
};

constexpr StandardError kStandardErrors[] = {
    {400, "BadRequest",
     "malformed_json: the body is not valid JSON; validation_failed: a field is invalid (each one is listed in "
     "`errors`).",
     false},
    {401, "Unauthorized", "unauthorized: the bearer token is missing, invalid or expired.", false},
    {403, "Forbidden", "forbidden: the caller's role may not do this.", false},
    {404, "NotFound", "not_found: there is no such resource, or it is another customer's.", false},
    {409, "IdempotencyKeyInUse",
     "idempotency_key_in_use: a request with this Idempotency-Key is still running; retry after Retry-After.", true},
    {413, "ContentTooLarge", "body_too_large: the body is larger than the host accepts (OMS_BODY_LIMIT).", false},
    {415, "UnsupportedMediaType", "unsupported_media_type: send the body as application/json.", false},
    {422, "IdempotencyKeyReused", "idempotency_key_reused: this Idempotency-Key was used with another body.", false},
    {429, "TooManyRequests", "rate_limited: this client address sent too many requests; retry after Retry-After.",
     true},
    {500, "InternalError", "internal_error: an unexpected failure, logged with the request id.", false},
    {503, "ServiceUnavailable",
     "database_unavailable, overloaded or shutting_down: the host cannot answer now; retry after Retry-After.", true},
};

const StandardError* standard_error(int status) {
    for (const auto& e : kStandardErrors)
        if (e.status == status) return &e;
    return nullptr;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

json ref(std::string_view where, std::string_view name) {
    return {{"$ref", "#/components/" + std::string(where) + "/" + std::string(name)}};
}

json problem_response(const std::string& description, int status) {
    json r = {{"description", description},
              {"headers", {{"X-Request-Id", ref("headers", "XRequestId")}}},
              {"content", {{"application/problem+json", {{"schema", ref("schemas", "Problem")}}}}}};
    const StandardError* e = standard_error(status);
    if ((e && e->retry_after) || status == 429 || status == 503) r["headers"]["Retry-After"] = ref("headers", "RetryAfter");
    if (status == 401) r["headers"]["WWW-Authenticate"] = ref("headers", "WWWAuthenticate");
    return r;
}

json components(bool rate_limited) {
    json c;
    c["schemas"]["Problem"] = {
        {"type", "object"},
        {"description", "An RFC 9457 problem details answer; `code` is stable and machine-readable."},
        {"required", {"type", "title", "status", "code", "detail", "request_id"}},
        {"properties",
         {{"type", {{"type", "string"}, {"examples", {"about:blank"}}}},
          {"title", {{"type", "string"}}},
          {"status", {{"type", "integer"}, {"minimum", 400}, {"maximum", 599}}},
          {"code", {{"type", "string"}, {"examples", {"validation_failed"}}}},
          {"detail", {{"type", "string"}}},
          {"request_id", {{"type", "string"}, {"description", "The X-Request-Id of the request"}}},
          {"errors",
           {{"type", "array"},
            {"description", "For validation_failed: every bad field"},
            {"items",
             {{"type", "object"},
              {"required", {"field", "message"}},
              {"properties", {{"field", {{"type", "string"}}}, {"message", {{"type", "string"}}}}}}}}}}}};
    for (const auto& e : kStandardErrors) {
        if (e.status == 429 && !rate_limited) continue;
        c["responses"][e.name] = problem_response(e.description, e.status);
    }
    c["headers"]["XRequestId"] = {{"description", "The request's id: the client's X-Request-Id when acceptable, else a new UUID"},
                                  {"schema", {{"type", "string"}}}};
    c["headers"]["RetryAfter"] = {{"description", "Seconds to wait before retrying"},
                                  {"schema", {{"type", "integer"}, {"minimum", 0}}}};
    c["headers"]["WWWAuthenticate"] = {{"description", "Bearer, with error=\"invalid_token\" when a token was sent"},
                                       {"schema", {{"type", "string"}}}};
    c["headers"]["IdempotentReplayed"] = {{"description", "true when this is the stored answer of an earlier request with the same Idempotency-Key"},
                                          {"schema", {{"type", "string"}, {"enum", {"true"}}}}};
    c["parameters"]["IdempotencyKey"] = {
        {"name", "Idempotency-Key"},
        {"in", "header"},
        {"required", false},
        {"description",
         "Makes a retry safe: the same key and body from the same caller replay the first answer (kept at least 24 h)."},
        {"schema", {{"type", "string"}, {"minLength", 1}, {"maxLength", 255}}}};
    c["securitySchemes"]["bearerAuth"] = {
        {"type", "http"},
        {"scheme", "bearer"},
        {"bearerFormat", "JWT"},
        {"description", "An HS256 token from POST /users/login (when the users plugin is loaded)"}};
    return c;
}

// Deep merge; `parameters` arrays are merged by (name, in), others replaced.
void merge(json& into, const json& patch) {
    for (auto it = patch.begin(); it != patch.end(); ++it) {
        json& slot = into[it.key()];
        if (it.key() == "parameters" && slot.is_array() && it->is_array()) {
            for (const auto& p : *it) {
                auto same = std::find_if(slot.begin(), slot.end(), [&](const json& q) {
                    return p.is_object() && q.is_object() && p.contains("name") && q.contains("name") &&
                           p.contains("in") && q.contains("in") && p["name"] == q["name"] && p["in"] == q["in"];
                });
                if (same != slot.end()) merge(*same, p);
                else slot.push_back(p);
            }
        } else if (slot.is_object() && it->is_object()) {
            merge(slot, *it);
        } else {
            slot = *it;
        }
    }
}

bool has_body(const RouteInfo& r) { return r.method == "POST" || r.method == "PUT" || r.method == "PATCH"; }

json operation(const RouteInfo& r, const std::vector<std::string>& path_names, bool rate_limited) {
    json op = json::object();
    op["operationId"] = openapi_operation_id(r.method, r.path);
    if (!r.summary.empty()) op["summary"] = r.summary;
    op["tags"] = {r.plugin};
    json params = json::array();
    for (const auto& n : path_names)
        params.push_back({{"name", n}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}});
    if (r.flags & OMS_ROUTE_IDEMPOTENT) params.push_back(ref("parameters", "IdempotencyKey"));
    if (!params.empty()) op["parameters"] = std::move(params);
    if (r.flags & OMS_ROUTE_AUTH) op["security"] = json::array({{{"bearerAuth", json::array()}}});
    if (!r.role.empty()) op["x-oms-role"] = r.role;
    if (r.flags & OMS_ROUTE_IDEMPOTENT) op["x-oms-idempotent"] = true;

    json fragment = openapi_fragment(r.openapi);
    std::vector<std::string> own_names;
    openapi_path(r.path, &own_names);
    if (own_names != path_names && fragment.contains("parameters") && fragment["parameters"].is_array())
        for (auto& p : fragment["parameters"])
            for (size_t i = 0; i < own_names.size() && i < path_names.size(); ++i)
                if (p.is_object() && p.value("in", "") == "path" && p.value("name", "") == own_names[i]) {
                    p["name"] = path_names[i];
                    break;
                }
    json declared = json::object();  // status → "code: when" of the plugin
    if (auto it = fragment.find("x-oms-errors"); it != fragment.end()) {
        if (it->is_object()) declared = *it;
        fragment.erase(it);
    }
    merge(op, fragment);
    if (!r.role.empty()) {
        std::string d = op.value("description", "");
        op["description"] = d + (d.empty() ? "" : "\n\n") + "Requires a bearer token of the `" + r.role + "` role.";
    }

    json& responses = op["responses"];
    if (!responses.is_object()) responses = json::object();
    bool success = false;
    for (auto it = responses.begin(); it != responses.end(); ++it)
        if (!it.key().empty() && (it.key()[0] == '2' || it.key()[0] == '3' || it.key() == "default")) success = true;
    if (!success) responses["200"] = {{"description", "OK"}};
    for (auto it = responses.begin(); it != responses.end(); ++it) {
        if (it.key().empty() || it.key()[0] != '2' || !it->is_object() || it->contains("$ref")) continue;
        (*it)["headers"]["X-Request-Id"] = ref("headers", "XRequestId");
        if (r.flags & OMS_ROUTE_IDEMPOTENT) (*it)["headers"]["Idempotent-Replayed"] = ref("headers", "IdempotentReplayed");
    }

    // Why each error status can happen here: the host's reasons first, then the plugin's.
    std::map<int, std::vector<std::string>> reasons;
    auto standard = [&](int status) { reasons[status].push_back(standard_error(status)->description); };
    bool json_body = has_body(r) && !(r.flags & OMS_ROUTE_RAW_BODY);
    if (json_body) standard(400);
    if (r.flags & OMS_ROUTE_IDEMPOTENT)
        reasons[400].push_back("invalid_idempotency_key: Idempotency-Key is not 1 to 255 visible ASCII characters.");
    if (r.flags & OMS_ROUTE_AUTH) standard(401);
    if (!r.role.empty()) standard(403);
    if (!path_names.empty()) standard(404);
    if (r.flags & OMS_ROUTE_IDEMPOTENT) {
        standard(409);
        standard(422);
    }
    if (has_body(r)) standard(413);
    if (json_body) standard(415);
    if (rate_limited && !r.rate_limit_exempt) standard(429);
    standard(500);
    standard(503);
    for (auto it = declared.begin(); it != declared.end(); ++it) {
        int status = std::atoi(it.key().c_str());
        if (status < 400 || status > 599 || !it->is_string()) continue;
        auto& list = reasons[status];
        if (std::find(list.begin(), list.end(), it->get<std::string>()) == list.end()) list.push_back(*it);
    }
    for (const auto& [status, list] : reasons) {
        std::string key = std::to_string(status);
        if (responses.contains(key)) continue;  // the plugin wrote this answer itself
        const StandardError* e = standard_error(status);
        if (e && list.size() == 1 && list[0] == e->description) {
            responses[key] = ref("responses", e->name);
        } else {
            std::string d;
            for (const auto& x : list) d += (d.empty() ? "" : " ") + x;
            responses[key] = problem_response(d, status);
        }
    }
    return op;
}

}  // namespace

std::string openapi_path(std::string_view pattern, std::vector<std::string>* names) {
    std::string out;
    size_t i = 0;
    while (i < pattern.size()) {
        size_t slash = pattern.find('/', i);
        std::string_view seg = pattern.substr(i, slash == std::string_view::npos ? std::string_view::npos : slash - i);
        if (!seg.empty() && seg[0] == ':') {
            out += "{" + std::string(seg.substr(1)) + "}";
            if (names) names->emplace_back(seg.substr(1));
        } else {
            out += seg;
        }
        if (slash == std::string_view::npos) break;
        out += '/';
        i = slash + 1;
    }
    if (out.size() > 1 && out.back() == '/') out.pop_back();
    return out.empty() ? "/" : out;
}

std::string openapi_operation_id(std::string_view method, std::string_view pattern) {
    std::string id = lower(method);
    bool upper = true;
    size_t i = 0;
    while (i < pattern.size()) {
        char c = pattern[i];
        if (c == '/') {
            upper = true;
            if (i + 1 < pattern.size() && pattern[i + 1] == ':') {
                id += "By";
                ++i;
            }
        } else if (std::isalnum(static_cast<unsigned char>(c))) {
            id += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
            upper = false;
        } else {
            upper = true;
        }
        ++i;
    }
    return id;
}

json openapi_fragment(std::string_view text) {
    if (text.empty()) return json::object();
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw std::invalid_argument("its OpenAPI description is not a JSON object");
    return j;
}

json openapi_document(const Runtime& rt) {
    bool rate_limited = rt.config().rate_limit().enabled();
    json doc = {{"openapi", "3.1.0"},
                {"info",
                 {{"title", "OMS"},
                  {"version", OMS_VERSION},
                  {"description",
                   "The order management API of this oms-host and the plugins it loaded. JSON bodies; errors are "
                   "RFC 9457 application/problem+json with a stable `code`; every answer carries X-Request-Id; "
                   "lists take ?limit= and ?cursor= and answer {data, next_cursor}; money is a JSON number in major "
                   "units of `currency`."},
                  {"x-oms-abi", std::to_string(OMS_ABI_MAJOR) + "." + std::to_string(OMS_ABI_MINOR)}}}};

    json tags = json::array({{{"name", "oms"}, {"description", "oms-host itself: health, metrics, this document"}}});
    std::set<std::string> used_tags;
    rt.router().for_each([&](const std::string&, const std::string&, const RouteInfo& r) { used_tags.insert(r.plugin); });
    for (const auto& p : rt.plugins()) {
        if (!used_tags.count(p->name)) continue;
        tags.push_back({{"name", p->name},
                        {"description", p->description.empty() ? "The " + p->name + " plugin" : p->description},
                        {"x-oms-plugin-version", p->version}});
    }
    doc["tags"] = std::move(tags);

    // Paths of one shape share the first registered spelling of its parameter names
    // (OpenAPI treats /a/{x} and /a/{y} as the same path).
    std::map<std::string, std::pair<std::string, std::vector<std::string>>> by_shape;
    std::set<std::string> operation_ids;
    json paths = json::object();
    rt.router().for_each([&](const std::string& method, const std::string& pattern, const RouteInfo& r) {
        std::vector<std::string> names;
        std::string path = openapi_path(pattern, &names);
        std::string shape = path;
        for (const auto& n : names) {
            auto at = shape.find("{" + n + "}");
            if (at != std::string::npos) shape.replace(at, n.size() + 2, "{}");
        }
        auto it = by_shape.emplace(shape, std::make_pair(path, names)).first;
        json op = operation(r, it->second.second, rate_limited);
        std::string id = op["operationId"].get<std::string>();
        for (int n = 2; !operation_ids.insert(id).second; ++n) id = op["operationId"].get<std::string>() + std::to_string(n);
        op["operationId"] = id;
        paths[it->second.first][lower(method)] = std::move(op);
    });
    doc["paths"] = std::move(paths);
    doc["components"] = components(rate_limited);
    return doc;
}

}  // namespace oms::host
