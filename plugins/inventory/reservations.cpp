#include "reservations.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "product.hpp"
#include "stock.hpp"

namespace inventory {
namespace {

std::atomic<int64_t> default_ttl_seconds{900};

void require_object(const oms::json& args) {
    if (!args.is_object()) throw oms::bad_request("invalid_body", "The arguments must be a JSON object.");
}

// The order_id argument, lower-cased; a validation error otherwise.
std::string order_id_arg(const oms::json& args, std::vector<oms::FieldError>& errors) {
    auto it = args.find("order_id");
    if (it == args.end() || it->is_null()) errors.push_back({"order_id", "is required"});
    else if (!it->is_string() || !oms::is_uuid(it->get<std::string>())) errors.push_back({"order_id", "must be a UUID"});
    else return lowercase(it->get<std::string>());
    return {};
}

std::string order_id_only(const oms::json& args) {
    require_object(args);
    std::vector<oms::FieldError> errors;
    std::string id = order_id_arg(args, errors);
    if (!errors.empty()) throw oms::validation_failed(std::move(errors));
    return id;
}

// One product of a reservation request; duplicates are merged into the
// first line that names the product.
struct Line {
    std::string product_id;  // lower case
    size_t index = 0;        // its first position in `items`, for error fields
    int64_t quantity = 0;
};

std::string item_field(size_t i, const char* name) { return "items[" + std::to_string(i) + "]." + name; }

struct ReserveRequest {
    std::string order_id;
    int64_t ttl_seconds = 0;
    std::vector<Line> lines;
    std::vector<std::pair<size_t, std::string>> not_uuids;  // index, the id as given
};

ReserveRequest parse_reserve(const oms::json& args) {
    require_object(args);
    std::vector<oms::FieldError> errors;
    ReserveRequest r;
    r.order_id = order_id_arg(args, errors);
    r.ttl_seconds = default_ttl_seconds.load();
    if (auto it = args.find("ttl_seconds"); it != args.end() && !it->is_null()) {
        if (it->is_number_integer() && it->get<int64_t>() >= 1 && it->get<int64_t>() <= kMaxTtlSeconds)
            r.ttl_seconds = it->get<int64_t>();
        else errors.push_back({"ttl_seconds", "must be an integer from 1 to 604800"});
    }
    auto items = args.find("items");
    if (items == args.end() || !items->is_array() || items->empty()) {
        errors.push_back({"items", "must be a non-empty array"});
        throw oms::validation_failed(std::move(errors));
    }
    std::map<std::string, size_t> line_of;  // product id → position in r.lines
    for (size_t i = 0; i < items->size(); ++i) {
        const auto& item = (*items)[i];
        if (!item.is_object()) {
            errors.push_back({"items[" + std::to_string(i) + "]", "must be an object"});
            continue;
        }
        auto pid = item.find("product_id");
        bool pid_ok = pid != item.end() && pid->is_string();
        if (!pid_ok) errors.push_back({item_field(i, "product_id"), "must be a string"});
        auto q = item.find("quantity");
        bool q_ok = q != item.end() && q->is_number_integer() && q->get<int64_t>() >= 1 &&
                    q->get<int64_t>() <= kMaxOnHand;
        if (!q_ok) errors.push_back({item_field(i, "quantity"), "must be an integer from 1 to 1000000000"});
        if (!pid_ok || !q_ok) continue;
        std::string given = pid->get<std::string>();
        if (!oms::is_uuid(given)) {
            r.not_uuids.emplace_back(i, given);  // certainly unknown
            continue;
        }
        std::string id = lowercase(given);
        auto [at, inserted] = line_of.try_emplace(id, r.lines.size());
        if (inserted) r.lines.push_back({id, i, 0});
        r.lines[at->second].quantity += q->get<int64_t>();
    }
    if (!errors.empty()) throw oms::validation_failed(std::move(errors));
    return r;
}

std::string join(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
    return out;
}

// Moves every reservation of the order in state `from` to `to` and applies
// the stock change per unit (on_hand_sign, reserved_sign). Returns how many
// reservations moved.
struct Transition {
    const char* from;
    const char* to;
    int on_hand_sign;
    int reserved_sign;
    const char* movement;  // reason recorded for on_hand changes, or nullptr
};

size_t transition(oms::Tx& tx, const std::string& order_id, const Transition& t,
                  const std::optional<std::string>& reason = std::nullopt) {
    // Locking the order's rows first serialises this against the expiry job
    // and a concurrent commit/release: a row another transaction changed
    // meanwhile is re-checked and dropped when it is no longer `from`.
    auto held = tx.query("SELECT id, product_id, quantity FROM inventory_reservations"
                         " WHERE order_id = $1::uuid AND status = $2 ORDER BY id FOR UPDATE",
                         order_id, t.from);
    if (held.empty()) return 0;
    std::vector<int64_t> ids;
    StockDeltas deltas;
    for (const auto& row : held) {
        ids.push_back(row.get<int64_t>("id"));
        auto q = row.get<int64_t>("quantity");
        auto& d = deltas[row.get<std::string>("product_id")];
        d.on_hand += t.on_hand_sign * q;
        d.reserved += t.reserved_sign * q;
    }
    tx.exec("UPDATE inventory_reservations SET status = $2, reason = coalesce($3, reason), updated_at = now()"
            " WHERE id = ANY($1::bigint[])",
            ids, t.to, reason);
    lock_products(tx, deltas);
    apply_stock_deltas(tx, deltas);
    if (t.movement) record_movements(tx, deltas, t.movement, order_id, std::nullopt);
    return held.size();
}

}  // namespace

void set_default_ttl(int64_t seconds) { default_ttl_seconds = seconds; }

oms::json reserve(oms::Tx& tx, const oms::json& args) {
    ReserveRequest req = parse_reserve(args);

    // Two statements in one round trip: lock the products (in product_id
    // order) and reserve. The reservation's availability guard is checked
    // under those locks, so the stock seen is the stock changed: never
    // oversold, whatever runs concurrently. One reservation per order: if the
    // order already holds any (a second call would double-hold stock), the
    // statement changes nothing. When some line cannot be reserved, the
    // locked rows (read before the change) say why, and the error rolls back
    // what the statement did reserve.
    std::map<std::string, oms::Row> found;  // product_id → its locked row
    std::optional<oms::Result> inserted;
    if (!req.lines.empty()) {
        StockDeltas deltas;
        std::vector<std::string> product_ids;
        std::vector<int64_t> quantities;
        for (const auto& l : req.lines) {
            deltas[l.product_id].reserved = l.quantity;
            product_ids.push_back(l.product_id);
            quantities.push_back(l.quantity);
        }
        auto locked = lock_products_later(tx, deltas);
        auto held = tx.query_later(
            "WITH held AS ("
            "  UPDATE inventory_products p SET reserved = p.reserved + w.quantity, updated_at = now()"
            "  FROM unnest($2::uuid[], $4::integer[]) AS w(product_id, quantity)"
            "  WHERE p.product_id = w.product_id AND p.on_hand - p.reserved >= w.quantity"
            "    AND NOT EXISTS (SELECT 1 FROM inventory_reservations r WHERE r.order_id = $1::uuid)"
            "  RETURNING p.product_id, w.quantity)"
            " INSERT INTO inventory_reservations (order_id, product_id, quantity, status, expires_at)"
            " SELECT $1::uuid, product_id, quantity, 'active', now() + $3::bigint * interval '1 second' FROM held"
            " RETURNING expires_at",
            req.order_id, product_ids, req.ttl_seconds, quantities);
        for (const auto& row : locked.get()) found.emplace(row.get<std::string>("product_id"), row);
        inserted = held.get();
    }

    // Every item is checked, and the error names them all.
    struct Unknown {
        size_t index;
        std::string id;  // as the caller wrote it
    };
    std::vector<Unknown> unknown;
    for (const auto& [i, given] : req.not_uuids) unknown.push_back({i, given});
    for (const auto& l : req.lines)
        if (!found.count(l.product_id)) unknown.push_back({l.index, l.product_id});
    if (!unknown.empty()) {
        std::sort(unknown.begin(), unknown.end(), [](const auto& a, const auto& b) { return a.index < b.index; });
        std::vector<oms::FieldError> fields;
        std::vector<std::string> ids;
        for (const auto& u : unknown) {
            fields.push_back({item_field(u.index, "product_id"), "unknown product " + u.id});
            ids.push_back(u.id);
        }
        throw oms::Error(400, "unknown_product", "Unknown product: " + join(ids) + ".", std::move(fields));
    }

    std::vector<oms::FieldError> short_fields;
    std::vector<std::string> short_skus;
    for (const auto& l : req.lines) {
        const auto& row = found.at(l.product_id);
        int64_t available = row.get<int64_t>("on_hand") - row.get<int64_t>("reserved");
        if (available < l.quantity) {
            std::string sku = row.get<std::string>("sku");
            short_skus.push_back(sku);
            short_fields.push_back(
                {item_field(l.index, "quantity"), "only " + std::to_string(available) + " of " + sku + " available"});
        }
    }
    if (!short_fields.empty())
        throw oms::Error(409, "insufficient_stock", "Not enough stock for " + join(short_skus) + ".",
                         std::move(short_fields));

    if (inserted->empty())
        throw oms::conflict("reservation_exists", "Order " + req.order_id + " already has reservations.");
    if (inserted->size() != req.lines.size())
        throw std::runtime_error("reserved " + std::to_string(inserted->size()) + " of " +
                                 std::to_string(req.lines.size()) + " locked products");

    oms::json items = oms::json::array();
    for (const auto& l : req.lines) {
        const auto& row = found.at(l.product_id);
        items.push_back({{"product_id", l.product_id},
                         {"sku", row.get<std::string>("sku")},
                         {"name", row.get<std::string>("name")},
                         {"unit_price", row.get<int64_t>("price")},
                         {"currency", row.get<std::string>("currency")},
                         {"quantity", l.quantity}});
    }
    return {{"items", std::move(items)}, {"expires_at", inserted->at(0).time("expires_at")}};
}

oms::json commit(oms::Tx& tx, const oms::json& args) {
    std::string order_id = order_id_only(args);
    size_t n = transition(tx, order_id, {"active", "committed", -1, -1, "sale"});
    if (n == 0)
        throw oms::conflict("reservation_not_active",
                            "Order " + order_id + " holds no active reservation (expired, released or never made).");
    return {{"committed", n}};
}

oms::json release(oms::Tx& tx, const oms::json& args) {
    std::string order_id = order_id_only(args);
    std::optional<std::string> reason;
    if (auto it = args.find("reason"); it != args.end() && !it->is_null()) {
        if (!it->is_string() || it->get<std::string>().size() > 200)
            throw oms::validation_failed({{"reason", "must be a string of at most 200 characters"}});
        reason = it->get<std::string>();
    }
    return {{"released", transition(tx, order_id, {"active", "released", 0, -1, nullptr}, reason)}};
}

oms::json restock(oms::Tx& tx, const oms::json& args) {
    std::string order_id = order_id_only(args);
    return {{"restocked", transition(tx, order_id, {"committed", "restocked", +1, 0, "restock"})}};
}

}  // namespace inventory
