// Validation of the fields users send: name, email, password, role.
#pragma once

#include <oms/plugin.hpp>
#include <optional>
#include <string>
#include <vector>

namespace users {

struct NewUser {
    std::string name, email, password;
};

// The create body; collects every bad field, then throws validation_failed.
// Unknown fields (role, id, ...) are ignored: they are never applied.
NewUser parse_new_user(const oms::json& body);

struct Credentials {
    std::string email, password;
};
// The login body. Anything malformed is a validation error, not a 401, so
// clients see their mistake; it never reveals whether the account exists.
Credentials parse_credentials(const oms::json& body);

// Trimmed, and checked for a plausible address (one @, no spaces or
// control characters, a dot in the domain); nullopt when it is not one.
std::optional<std::string> normalize_email(std::string_view raw);

bool is_valid_role(std::string_view role);

// The body of POST /users/:id/role: {"role": "customer" | "admin"}.
std::string parse_role_change(const oms::json& body);

}  // namespace users
