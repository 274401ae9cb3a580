// The OpenAPI document the host assembles from its router (no plugins loaded:
// routes are registered here the way host_api.cpp registers a plugin's).
#include "openapi.hpp"

#include <gtest/gtest.h>
#include <oms/abi.h>

#include "runtime.hpp"

using namespace oms::host;
using json = nlohmann::json;

namespace {

RouteInfo route(std::string method, std::string path, uint32_t flags = 0, std::string role = {},
                std::string openapi = {}) {
    RouteInfo r;
    r.plugin = "shop";
    r.method = std::move(method);
    r.path = std::move(path);
    r.flags = flags | (role.empty() ? 0u : OMS_ROUTE_AUTH);
    r.role = std::move(role);
    r.summary = "a route";
    r.openapi = std::move(openapi);
    r.builtin = [](RequestContext&) { return Reply{}; };
    return r;
}

json document(std::vector<RouteInfo> routes, std::map<std::string, std::string> config = {}) {
    Runtime rt(Config::from_map(std::move(config)));
    for (auto& r : routes) rt.add_route(std::move(r));
    return openapi_document(rt);
}

}  // namespace

TEST(OpenApiPath, ParametersBecomeTemplates) {
    std::vector<std::string> names;
    EXPECT_EQ(openapi_path("/orders/:id/cancel", &names), "/orders/{id}/cancel");
    EXPECT_EQ(names, std::vector<std::string>{"id"});
    EXPECT_EQ(openapi_path("/a/:x/b/:y"), "/a/{x}/b/{y}");
    EXPECT_EQ(openapi_path("/health/"), "/health");
    EXPECT_EQ(openapi_path("/"), "/");
}

TEST(OpenApiPath, OperationIdsFollowMethodAndPath) {
    EXPECT_EQ(openapi_operation_id("GET", "/orders/:id"), "getOrdersById");
    EXPECT_EQ(openapi_operation_id("POST", "/orders/:id/cancel"), "postOrdersByIdCancel");
    EXPECT_EQ(openapi_operation_id("GET", "/openapi.json"), "getOpenapiJson");
    EXPECT_EQ(openapi_operation_id("PATCH", "/inventory/:product_id"), "patchInventoryByProductId");
}

TEST(OpenApiFragment, MustBeAJsonObject) {
    EXPECT_TRUE(openapi_fragment("").empty());
    EXPECT_EQ(openapi_fragment(R"({"description":"x"})")["description"], "x");
    EXPECT_THROW(openapi_fragment("[1]"), std::invalid_argument);
    EXPECT_THROW(openapi_fragment("{not json"), std::invalid_argument);
}

TEST(OpenApiDocument, InfoTagsAndSharedComponents) {
    auto doc = document({route("GET", "/things")});
    EXPECT_EQ(doc["openapi"], "3.1.0");
    EXPECT_EQ(doc["info"]["version"], OMS_VERSION);
    EXPECT_EQ(doc["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
    EXPECT_EQ(doc["components"]["securitySchemes"]["bearerAuth"]["bearerFormat"], "JWT");
    EXPECT_TRUE(doc["components"]["schemas"].contains("Problem"));
    EXPECT_EQ(doc["components"]["responses"]["NotFound"]["content"]["application/problem+json"]["schema"]["$ref"],
              "#/components/schemas/Problem");
    EXPECT_EQ(doc["components"]["parameters"]["IdempotencyKey"]["name"], "Idempotency-Key");
    EXPECT_FALSE(doc["components"]["responses"].contains("TooManyRequests"));  // rate limiting is off
    auto op = doc["paths"]["/things"]["get"];
    EXPECT_EQ(op["tags"], json::array({"shop"}));
    EXPECT_EQ(op["responses"]["200"]["description"], "OK");  // none declared: a plain 200
    EXPECT_EQ(op["responses"]["503"]["$ref"], "#/components/responses/ServiceUnavailable");
    EXPECT_FALSE(op.contains("security"));
    EXPECT_FALSE(op["responses"].contains("400"));  // a GET without declared errors has no body to refuse
}

TEST(OpenApiDocument, PathParametersSecurityAndRole) {
    auto doc = document({route("POST", "/things/:id/ship", OMS_ROUTE_AUTH, "admin")});
    auto op = doc["paths"]["/things/{id}/ship"]["post"];
    ASSERT_TRUE(op.is_object()) << doc.dump(2);
    EXPECT_EQ(op["parameters"][0], (json{{"name", "id"}, {"in", "path"}, {"required", true},
                                         {"schema", {{"type", "string"}}}}));
    EXPECT_EQ(op["security"], json::parse(R"([{"bearerAuth": []}])"));
    EXPECT_EQ(op["x-oms-role"], "admin");
    EXPECT_NE(op["description"].get<std::string>().find("`admin`"), std::string::npos);
    for (const char* status : {"400", "401", "403", "404", "413", "415", "500", "503"})
        EXPECT_TRUE(op["responses"].contains(status)) << status;
    EXPECT_FALSE(op["responses"].contains("409"));
}

TEST(OpenApiDocument, IdempotentRoutesDocumentTheKeyAndItsAnswers) {
    auto doc = document({route("POST", "/things", OMS_ROUTE_AUTH | OMS_ROUTE_IDEMPOTENT, {},
                               R"({"responses":{"201":{"description":"Created"}}})")});
    auto op = doc["paths"]["/things"]["post"];
    EXPECT_EQ(op["parameters"][0]["$ref"], "#/components/parameters/IdempotencyKey");
    EXPECT_EQ(op["x-oms-idempotent"], true);
    EXPECT_EQ(op["responses"]["409"]["$ref"], "#/components/responses/IdempotencyKeyInUse");
    EXPECT_EQ(op["responses"]["422"]["$ref"], "#/components/responses/IdempotencyKeyReused");
    EXPECT_EQ(op["responses"]["201"]["headers"]["Idempotent-Replayed"]["$ref"],
              "#/components/headers/IdempotentReplayed");
    // The 400 has the host's body reasons and the bad-key reason: written inline.
    auto bad = op["responses"]["400"];
    EXPECT_NE(bad["description"].get<std::string>().find("invalid_idempotency_key"), std::string::npos);
    EXPECT_EQ(bad["content"]["application/problem+json"]["schema"]["$ref"], "#/components/schemas/Problem");
}

TEST(OpenApiDocument, PluginFragmentsAreMergedAndErrorsExplained) {
    json fragment = {
        {"description", "Makes a thing."},
        {"parameters", json::array({{{"name", "id"}, {"in", "path"}, {"required", true},
                                     {"schema", {{"type", "string"}, {"format", "uuid"}}}},
                                    {{"name", "dry_run"}, {"in", "query"}, {"schema", {{"type", "boolean"}}}}})},
        {"requestBody", {{"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}}},
        {"responses", {{"201", {{"description", "Made"}}}}},
        {"x-oms-errors", {{"409", "thing_taken: exists"}, {"404", "no_parent: the parent is gone"}}}};
    auto doc = document({route("PUT", "/things/:id", 0, {}, fragment.dump())});
    auto op = doc["paths"]["/things/{id}"]["put"];
    EXPECT_EQ(op["description"], "Makes a thing.");
    ASSERT_EQ(op["parameters"].size(), 2u) << op.dump(2);  // the plugin's id refines the host's
    EXPECT_EQ(op["parameters"][0]["schema"]["format"], "uuid");
    EXPECT_EQ(op["parameters"][1]["name"], "dry_run");
    EXPECT_TRUE(op["requestBody"].is_object());
    EXPECT_FALSE(op["responses"].contains("200"));
    EXPECT_FALSE(op.contains("x-oms-errors"));
    EXPECT_EQ(op["responses"]["409"]["description"], "thing_taken: exists");
    auto not_found = op["responses"]["404"]["description"].get<std::string>();
    EXPECT_NE(not_found.find("not_found"), std::string::npos);
    EXPECT_NE(not_found.find("no_parent"), std::string::npos);
}

TEST(OpenApiDocument, RateLimitAddsTooManyRequestsExceptOnExemptRoutes) {
    auto exempt = route("GET", "/live");
    exempt.rate_limit_exempt = true;
    auto doc = document({route("GET", "/things"), exempt}, {{"OMS_RATE_LIMIT_RPS", "5"}});
    EXPECT_EQ(doc["paths"]["/things"]["get"]["responses"]["429"]["$ref"], "#/components/responses/TooManyRequests");
    EXPECT_FALSE(doc["paths"]["/live"]["get"]["responses"].contains("429"));
}

TEST(OpenApiDocument, OneShapeOnePathSpelling) {
    // /things/:id and /things/:key are one path to OpenAPI: the first spelling wins.
    auto doc = document({route("GET", "/things/:id"), route("DELETE", "/things/:key")});
    ASSERT_TRUE(doc["paths"].contains("/things/{id}")) << doc["paths"].dump(2);
    EXPECT_FALSE(doc["paths"].contains("/things/{key}"));
    EXPECT_EQ(doc["paths"]["/things/{id}"]["delete"]["parameters"][0]["name"], "id");
}
