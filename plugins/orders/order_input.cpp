#include "order_input.hpp"

#include <oms/money.hpp>

#include <cctype>

#include "order_state.hpp"

namespace orders {
namespace {

using Errors = std::vector<oms::FieldError>;

void require_object(const oms::json& body) {
    if (!body.is_object()) throw oms::bad_request("invalid_body", "The body must be a JSON object.");
}

// An optional field: absent and null are the same.
const oms::json* optional_field(const oms::json& body, const char* name) {
    auto it = body.find(name);
    if (it == body.end() || it->is_null()) return nullptr;
    return &*it;
}

std::optional<std::string> parse_currency(const oms::json& body, Errors& errors) {
    const oms::json* v = optional_field(body, "currency");
    if (!v) return std::string(kDefaultCurrency);
    if (!v->is_string()) {
        errors.push_back({"currency", "must be an ISO 4217 code such as INR"});
        return std::nullopt;
    }
    std::string code = v->get<std::string>();
    for (auto& c : code) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!oms::money::minor_digits(code)) {
        errors.push_back({"currency", "is not a supported currency"});
        return std::nullopt;
    }
    return code;
}

// An amount in major units → minor units of `currency`; nullopt (and an
// error) when it is not one. Without a valid currency it cannot be judged.
std::optional<int64_t> parse_amount(const oms::json& value, const std::optional<std::string>& currency,
                                    const std::string& field, Errors& errors) {
    if (!currency) return std::nullopt;
    auto parsed = oms::money::parse_json(value, *currency);
    if (!parsed.ok()) {
        errors.push_back({field, parsed.error});
        return std::nullopt;
    }
    return parsed.minor;
}

// nlohmann keeps non-negative integers unsigned, negative ones signed.
bool quantity_in_range(const oms::json& q) {
    if (q.is_number_unsigned()) return q.get<uint64_t>() >= 1 && q.get<uint64_t>() <= uint64_t(kMaxQuantity);
    return q.get<int64_t>() >= 1 && q.get<int64_t>() <= kMaxQuantity;
}

ItemInput parse_item(const oms::json& item, size_t i, const std::optional<std::string>& currency, Errors& errors) {
    std::string at = "items[" + std::to_string(i) + "]";
    ItemInput out;
    if (!item.is_object()) {
        errors.push_back({at, "must be an object"});
        return out;
    }
    const oms::json* pid = optional_field(item, "product_id");
    if (!pid) errors.push_back({at + ".product_id", "is required"});
    else if (!pid->is_string() || !oms::is_uuid(pid->get<std::string>()))
        errors.push_back({at + ".product_id", "must be a UUID"});
    else out.product_id = oms::canonical_uuid(pid->get<std::string>());

    const oms::json* q = optional_field(item, "quantity");
    if (!q) errors.push_back({at + ".quantity", "is required"});
    else if (!q->is_number_integer()) errors.push_back({at + ".quantity", "must be an integer"});
    else if (!quantity_in_range(*q))
        errors.push_back({at + ".quantity", "must be from 1 to " + std::to_string(kMaxQuantity)});
    else out.quantity = q->get<int64_t>();

    if (const oms::json* price = optional_field(item, "price")) out.price = parse_amount(*price, currency, at + ".price", errors);
    return out;
}

std::string parse_reason(const oms::json& body, Errors& errors) {
    const oms::json* r = optional_field(body, "reason");
    if (!r) return {};
    if (!r->is_string()) {
        errors.push_back({"reason", "must be a string"});
        return {};
    }
    std::string reason = r->get<std::string>();
    if (reason.size() > kMaxReason) errors.push_back({"reason", "must be at most 200 bytes"});
    return reason;
}

}  // namespace

NewOrder parse_new_order(const oms::json& body) {
    require_object(body);
    Errors errors;
    NewOrder order;

    if (const oms::json* c = optional_field(body, "customer_id")) {
        if (c->is_string() && oms::is_uuid(c->get<std::string>())) order.customer_id = oms::canonical_uuid(c->get<std::string>());
        else errors.push_back({"customer_id", "must be a UUID"});
    }

    auto currency = parse_currency(body, errors);
    if (currency) order.currency = *currency;

    if (const oms::json* t = optional_field(body, "total_amount"))
        order.total_amount = parse_amount(*t, currency, "total_amount", errors);

    const oms::json* items = optional_field(body, "items");
    if (!items) errors.push_back({"items", "is required"});
    else if (!items->is_array()) errors.push_back({"items", "must be an array"});
    else if (items->empty()) errors.push_back({"items", "must have at least one item"});
    else if (items->size() > kMaxItems) errors.push_back({"items", "must have at most 100 items"});
    else
        for (size_t i = 0; i < items->size(); ++i) order.items.push_back(parse_item((*items)[i], i, currency, errors));

    if (!errors.empty()) throw oms::validation_failed(std::move(errors));
    return order;
}

StatusChange parse_status_change(const oms::json& body) {
    require_object(body);
    Errors errors;
    StatusChange change;
    const oms::json* s = optional_field(body, "status");
    if (!s) errors.push_back({"status", "is required"});
    else if (!s->is_string() || !is_status(s->get<std::string>()))
        errors.push_back({"status", "must be one of pending, paid, cancelled, expired, shipped, delivered, refunded"});
    else change.status = s->get<std::string>();
    change.reason = parse_reason(body, errors);
    if (!errors.empty()) throw oms::validation_failed(std::move(errors));
    return change;
}

std::string parse_cancel_reason(const oms::json& body) {
    require_object(body);
    Errors errors;
    std::string reason = parse_reason(body, errors);
    if (!errors.empty()) throw oms::validation_failed(std::move(errors));
    return reason;
}

}  // namespace orders
