// The users routes' OpenAPI schemas (GET /openapi.json), beside the rules in user_input.cpp.
#pragma once

#include <oms/plugin.hpp>

namespace users::schemas {

namespace s = oms::schema;

inline oms::json user() {
    return s::object({{"id", s::uuid()},
                      {"name", s::text()},
                      {"email", s::formatted("email")},
                      {"role", s::one_of({"customer", "admin"})},
                      {"created_at", s::date_time()}},
                     {"id", "name", "email", "role", "created_at"});
}

inline oms::json new_user() {
    return s::object({{"name", s::text(1, 100)},
                      {"email", s::text(3, 254)},
                      {"password", s::text(8, 128)}},
                     {"name", "email", "password"});
}

inline oms::json role_change() { return s::object({{"role", s::one_of({"customer", "admin"})}}, {"role"}); }

inline oms::json credentials() {
    return s::object({{"email", s::text()}, {"password", s::text()}}, {"email", "password"});
}

inline oms::json login_result() {
    return s::object({{"token", s::text()},
                      {"token_type", s::one_of({"Bearer"})},
                      {"expires_in", s::integer(1)},
                      {"user", user()}},
                     {"token", "token_type", "expires_in", "user"});
}

// The services' contracts (`oms-host contracts`).
inline oms::json user_lookup() {
    oms::json lookup = s::object({{"user_id", s::uuid()}, {"email", s::text(1, 254)}});
    lookup["anyOf"] = oms::json::array({{{"required", {"user_id"}}}, {{"required", {"email"}}}});
    lookup["description"] = "Give user_id or email (compared case-insensitively)";
    return lookup;
}

// What the host asks: the token's claims, unchecked beyond the signature.
inline oms::json token_claims() {
    return s::object({{"user_id", {{"type", "string"}, {"description", "The token's sub"}}},
                      {"role", {{"type", "string"}, {"description", "The token's role"}}}},
                     {"user_id"});
}

inline oms::json caller() {
    return s::object({{"user_id", s::uuid()}, {"role", s::one_of({"customer", "admin"})}}, {"user_id", "role"});
}

}  // namespace users::schemas
