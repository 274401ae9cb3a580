// GET /openapi.json: the OpenAPI 3.1 document of the routes actually loaded,
// assembled at start-up from the router (host routes and every plugin's).
//
// The host writes what it knows of every route — path parameters, bearer
// security and role, the Idempotency-Key header, tags per plugin and the
// problem+json errors its own middleware answers — and merges in the JSON
// fragment each plugin attached to the route (oms_route_def::openapi, written
// with RouteSpec::request_schema()/response_schema()/error()/openapi()).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace oms::host {

class Runtime;

// "/orders/:id/cancel" → "/orders/{id}/cancel"; appends the parameter names to `names`.
std::string openapi_path(std::string_view pattern, std::vector<std::string>* names = nullptr);

// "GET /orders/:id/cancel" → "getOrdersByIdCancel".
std::string openapi_operation_id(std::string_view method, std::string_view pattern);

// The fragment a route carries, parsed; throws std::invalid_argument when it is
// not a JSON object (checked when the route is registered).
nlohmann::json openapi_fragment(std::string_view text);

// The whole document.
nlohmann::json openapi_document(const Runtime& rt);

}  // namespace oms::host
