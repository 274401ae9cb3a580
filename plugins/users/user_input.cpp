#include "user_input.hpp"

#include <algorithm>

namespace users {
namespace {

constexpr size_t kNameMax = 100;
constexpr size_t kEmailMax = 254;  // RFC 5321 path limit
constexpr size_t kPasswordMin = 8, kPasswordMax = 128;  // NIST SP 800-63B: at least 8, allow at least 64

std::string_view trim(std::string_view s) {
    auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

// Length in Unicode code points (the body is valid UTF-8: the host checked the JSON).
size_t characters(std::string_view s) {
    return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

// Reads a string field; records an error and returns nullopt when absent or not a string.
std::optional<std::string> string_field(const oms::json& body, const char* name,
                                        std::vector<oms::FieldError>& errors) {
    auto it = body.find(name);
    if (it == body.end() || it->is_null()) {
        errors.push_back({name, "is required"});
        return std::nullopt;
    }
    if (!it->is_string()) {
        errors.push_back({name, "must be a string"});
        return std::nullopt;
    }
    return it->get<std::string>();
}

void require_object(const oms::json& body) {
    if (!body.is_object()) throw oms::bad_request("invalid_body", "The body must be a JSON object.");
}

}  // namespace

std::optional<std::string> normalize_email(std::string_view raw) {
    std::string_view e = trim(raw);
    if (e.size() < 3 || e.size() > kEmailMax) return std::nullopt;
    auto at = e.find('@');
    if (at == std::string_view::npos || at == 0 || e.find('@', at + 1) != std::string_view::npos) return std::nullopt;
    for (char c : e)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return std::nullopt;
    std::string_view domain = e.substr(at + 1);
    auto dot = domain.find('.');
    if (dot == std::string_view::npos || dot == 0 || domain.back() == '.' ||
        domain.find("..") != std::string_view::npos)
        return std::nullopt;
    return std::string(e);
}

bool is_valid_role(std::string_view role) { return role == "customer" || role == "admin"; }

NewUser parse_new_user(const oms::json& body) {
    require_object(body);
    std::vector<oms::FieldError> errors;
    NewUser u;
    if (auto name = string_field(body, "name", errors)) {
        u.name = std::string(trim(*name));
        size_t n = characters(u.name);
        if (n == 0) errors.push_back({"name", "must not be empty"});
        else if (n > kNameMax) errors.push_back({"name", "must be at most 100 characters"});
    }
    if (auto email = string_field(body, "email", errors)) {
        if (auto e = normalize_email(*email)) u.email = *e;
        else errors.push_back({"email", "must be an email address like name@example.com (at most 254 characters)"});
    }
    if (auto password = string_field(body, "password", errors)) {
        size_t n = characters(*password);
        if (n < kPasswordMin) errors.push_back({"password", "must be at least 8 characters"});
        else if (n > kPasswordMax) errors.push_back({"password", "must be at most 128 characters"});
        else u.password = std::move(*password);
    }
    if (!errors.empty()) throw oms::validation_failed(std::move(errors));
    return u;
}

Credentials parse_credentials(const oms::json& body) {
    require_object(body);
    std::vector<oms::FieldError> errors;
    Credentials c;
    if (auto email = string_field(body, "email", errors)) {
        if (email->size() > kEmailMax) errors.push_back({"email", "must be at most 254 characters"});
        else c.email = std::string(trim(*email));
    }
    if (auto password = string_field(body, "password", errors)) {
        if (password->empty()) errors.push_back({"password", "is required"});
        else if (characters(*password) > kPasswordMax) errors.push_back({"password", "must be at most 128 characters"});
        else c.password = std::move(*password);
    }
    if (!errors.empty()) throw oms::validation_failed(std::move(errors));
    return c;
}

std::string parse_role_change(const oms::json& body) {
    require_object(body);
    std::vector<oms::FieldError> errors;
    auto role = string_field(body, "role", errors);
    if (role && !is_valid_role(*role)) errors.push_back({"role", "must be customer or admin"});
    if (!errors.empty()) throw oms::validation_failed(std::move(errors));
    return *role;
}

}  // namespace users
