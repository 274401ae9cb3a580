#include "order_create.hpp"

#include <oms/money.hpp>

#include <map>

namespace orders {
namespace {

struct Priced {
    std::string sku, name, currency;
    int64_t unit_price = 0;
};

// quantity × unit price, refused (naming the field) when it would overflow.
int64_t checked_line_total(int64_t quantity, int64_t unit_price, const std::string& field) {
    int64_t total = 0;
    if (__builtin_mul_overflow(quantity, unit_price, &total) || total > oms::money::kMaxMinor)
        throw oms::validation_failed({{field, "makes a line total too large"}});
    return total;
}

}  // namespace

std::string place_order(oms::Tx& tx, const NewOrder& order, const std::string& customer_id, const Actor& actor) {
    // The order row first: the reservation is keyed by its id. Its total is
    // set below, once the catalogue's prices are known. The id is made here,
    // so the insert is queued and travels with the reservation's statements.
    std::string id = oms::new_uuid();
    tx.exec_later("INSERT INTO orders (id, customer_id, status, currency, total_amount) "
                  "VALUES ($1::uuid, $2::uuid, 'pending', $3, 0)",
                  id, customer_id, order.currency);

    oms::json wanted = oms::json::array();
    for (const auto& item : order.items)
        wanted.push_back({{"product_id", item.product_id}, {"quantity", item.quantity}});
    oms::json reserved = tx.call("inventory.reserve", {{"order_id", id}, {"items", wanted}});

    std::map<std::string, Priced> catalogue;
    for (const auto& r : reserved.at("items"))
        catalogue[r.at("product_id").get<std::string>()] = {r.at("sku").get<std::string>(),
                                                            r.at("name").get<std::string>(),
                                                            r.at("currency").get<std::string>(),
                                                            r.at("unit_price").get<int64_t>()};

    std::vector<oms::FieldError> currency_errors, price_errors;
    oms::json lines = oms::json::array();
    int64_t total = 0;
    for (size_t i = 0; i < order.items.size(); ++i) {
        const auto& item = order.items[i];
        std::string at = "items[" + std::to_string(i) + "]";
        auto found = catalogue.find(item.product_id);
        if (found == catalogue.end())  // inventory answered for every product or failed; never expected
            throw oms::Error(500, "reservation_incomplete", "inventory.reserve did not price " + item.product_id);
        const Priced& p = found->second;
        if (p.currency != order.currency) {
            currency_errors.push_back({at + ".product_id", "is sold in " + p.currency + ", not " + order.currency});
            continue;
        }
        if (item.price && *item.price != p.unit_price)
            price_errors.push_back({at + ".price", "is " + oms::money::to_json(*item.price, p.currency).dump() +
                                                       "; the current price is " +
                                                       oms::money::to_json(p.unit_price, p.currency).dump()});
        int64_t line_total = checked_line_total(item.quantity, p.unit_price, at + ".quantity");
        if (__builtin_add_overflow(total, line_total, &total) || total > oms::money::kMaxMinor)
            throw oms::validation_failed({{"items", "make an order total that is too large"}});
        lines.push_back({{"line", i + 1},
                         {"product_id", item.product_id},
                         {"sku", p.sku},
                         {"name", p.name},
                         {"quantity", item.quantity},
                         {"unit_price", p.unit_price},
                         {"line_total", line_total}});
    }
    if (!currency_errors.empty())
        throw oms::Error(409, "currency_mismatch", "Some products are not sold in " + order.currency + ".",
                         std::move(currency_errors));
    if (order.total_amount && *order.total_amount != total)
        price_errors.push_back({"total_amount", "is " + oms::money::to_json(*order.total_amount, order.currency).dump() +
                                                    "; the order total is " +
                                                    oms::money::to_json(total, order.currency).dump()});
    if (!price_errors.empty())
        throw oms::Error(409, "price_mismatch", "The prices sent differ from the current prices; nothing was ordered.",
                         std::move(price_errors));

    // Every line, the total and the first history row (what record_history
    // writes for later moves) in one statement: one round trip, however many lines.
    tx.exec_later("WITH lines AS ("
            "  INSERT INTO order_items (order_id, line, product_id, sku, name, quantity, unit_price, line_total)"
            "  SELECT $1::uuid, l.line, l.product_id, l.sku, l.name, l.quantity, l.unit_price, l.line_total"
            "  FROM jsonb_to_recordset($2::jsonb) AS l(line integer, product_id uuid, sku text, name text,"
            "    quantity integer, unit_price bigint, line_total bigint)),"
            " history AS ("
            "  INSERT INTO order_status_history (order_id, from_status, to_status, actor, reason)"
            "  VALUES ($1::uuid, NULL, 'pending', $5, 'created'))"
            " UPDATE orders SET total_amount = $3, reservation_expires_at = $4::timestamptz WHERE id = $1::uuid",
            id, lines, total, reserved.at("expires_at").get<std::string>(), actor.name);

    oms::json event_lines = oms::json::array();
    for (const auto& l : lines)
        event_lines.push_back({{"product_id", l["product_id"]}, {"quantity", l["quantity"]}, {"unit_price", l["unit_price"]}});
    tx.publish("order.created", {{"order_id", id},
                                 {"customer_id", customer_id},
                                 {"status", "pending"},
                                 {"total_amount", total},
                                 {"currency", order.currency},
                                 {"items", event_lines}});
    return id;
}

}  // namespace orders
