#include "product.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

#include <oms/money.hpp>

namespace inventory {
namespace {

constexpr size_t kSkuMax = 64;
constexpr size_t kNameMax = 200;

// Length in Unicode code points (the JSON body and the CSV are UTF-8).
size_t characters(std::string_view s) {
    return static_cast<size_t>(
        std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

void require_object(const oms::json& body) {
    if (!body.is_object()) throw oms::bad_request("invalid_body", "The body must be a JSON object.");
}

bool present(const oms::json& body, const char* name) {
    auto it = body.find(name);
    return it != body.end() && !it->is_null();
}

std::optional<std::string> string_field(const oms::json& body, const char* name, bool required,
                                        std::vector<oms::FieldError>& errors) {
    if (!present(body, name)) {
        if (required) errors.push_back({name, "is required"});
        return std::nullopt;
    }
    const auto& v = body.at(name);
    if (!v.is_string()) {
        errors.push_back({name, "must be a string"});
        return std::nullopt;
    }
    return v.get<std::string>();
}

std::optional<int64_t> on_hand_field(const oms::json& body, bool required, std::vector<oms::FieldError>& errors) {
    if (!present(body, "on_hand")) {
        if (required) errors.push_back({"on_hand", "is required"});
        return std::nullopt;
    }
    const auto& v = body.at("on_hand");
    bool in_range = (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(kMaxOnHand)) ||
                    (v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= kMaxOnHand);
    if (!in_range) {
        errors.push_back({"on_hand", "must be an integer from 0 to 1000000000"});
        return std::nullopt;
    }
    return v.get<int64_t>();
}

std::optional<int64_t> price_field(const oms::json& body, std::string_view currency, bool required,
                                   std::vector<oms::FieldError>& errors) {
    if (!present(body, "price")) {
        if (required) errors.push_back({"price", "is required"});
        return std::nullopt;
    }
    auto parsed = oms::money::parse_json(body.at("price"), currency);
    if (!parsed.ok()) {
        errors.push_back({"price", parsed.error});
        return std::nullopt;
    }
    return parsed.minor;
}

std::optional<std::string> name_field(const oms::json& body, bool required, std::vector<oms::FieldError>& errors) {
    auto raw = string_field(body, "name", required, errors);
    if (!raw) return std::nullopt;
    std::string name = trim(*raw);
    if (auto e = name_error(name)) {
        errors.push_back({"name", *e});
        return std::nullopt;
    }
    return name;
}

}  // namespace

oms::json product_json(const oms::Row& row) {
    std::string currency = row.get<std::string>("currency");
    auto on_hand = row.get<int64_t>("on_hand");
    auto reserved = row.get<int64_t>("reserved");
    return {{"product_id", row.get<std::string>("product_id")},
            {"sku", row.get<std::string>("sku")},
            {"name", row.get<std::string>("name")},
            {"price", oms::money::to_json(row.get<int64_t>("price"), currency)},
            {"currency", currency},
            {"on_hand", on_hand},
            {"reserved", reserved},
            {"available", on_hand - reserved},
            {"created_at", row.time("created_at")},
            {"updated_at", row.time("updated_at")}};
}

std::string lowercase(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string trim(std::string_view s) {
    auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return std::string(s);
}

std::optional<std::string> sku_error(std::string_view sku) {
    auto allowed = [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '-';
    };
    if (sku.empty() || sku.size() > kSkuMax || !std::all_of(sku.begin(), sku.end(), allowed))
        return "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'";
    return std::nullopt;
}

std::optional<std::string> name_error(std::string_view name) {
    size_t n = characters(name);
    if (n == 0) return "must not be empty";
    if (n > kNameMax) return "must be at most 200 characters";
    for (char c : name)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "must not contain control characters";
    return std::nullopt;
}

std::optional<std::string> normalize_currency(std::string_view code) {
    std::string upper(code);
    for (auto& c : upper)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!oms::money::minor_digits(upper)) return std::nullopt;
    return upper;
}

NewProduct parse_new_product(const oms::json& body) {
    require_object(body);
    std::vector<oms::FieldError> errors;
    NewProduct p;
    if (auto sku = string_field(body, "sku", true, errors)) {
        if (auto e = sku_error(*sku)) errors.push_back({"sku", *e});
        else p.sku = *sku;
    }
    if (auto name = name_field(body, true, errors)) p.name = *name;

    p.currency = kDefaultCurrency;
    bool currency_ok = true;
    if (auto code = string_field(body, "currency", false, errors)) {
        if (auto c = normalize_currency(*code)) {
            p.currency = *c;
        } else {
            errors.push_back({"currency", "must be a supported ISO 4217 code such as INR or USD"});
            currency_ok = false;
        }
    } else if (present(body, "currency")) {
        currency_ok = false;  // not a string: already reported
    }
    // The price's allowed decimals depend on the currency; without a valid
    // one only its presence is checked.
    if (currency_ok) {
        if (auto price = price_field(body, p.currency, true, errors)) p.price = *price;
    } else if (!present(body, "price")) {
        errors.push_back({"price", "is required"});
    }
    if (auto on_hand = on_hand_field(body, true, errors)) p.on_hand = *on_hand;
    if (!errors.empty()) throw oms::validation_failed(std::move(errors));
    return p;
}

ProductChange parse_product_change(const oms::json& body, std::string_view currency) {
    require_object(body);
    std::vector<oms::FieldError> errors;
    ProductChange c;
    if (present(body, "sku")) errors.push_back({"sku", "cannot be changed"});
    if (present(body, "currency")) errors.push_back({"currency", "cannot be changed once the product exists"});
    c.name = name_field(body, false, errors);
    c.price = price_field(body, currency, false, errors);
    c.on_hand = on_hand_field(body, false, errors);
    if (!errors.empty()) throw oms::validation_failed(std::move(errors));
    return c;
}

void record_movement(oms::Tx& tx, std::string_view product_id, int64_t delta, std::string_view reason,
                     const std::optional<std::string>& order_id, const std::optional<std::string>& actor) {
    tx.exec("INSERT INTO inventory_movements (product_id, delta_on_hand, reason, order_id, actor) "
            "VALUES ($1::uuid, $2, $3, $4::uuid, $5)",
            product_id, delta, reason, order_id, actor);
}

}  // namespace inventory
