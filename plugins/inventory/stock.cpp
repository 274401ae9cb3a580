#include "stock.hpp"

#include "product.hpp"

namespace inventory {

oms::Pending lock_products_later(oms::Tx& tx, const StockDeltas& products) {
    std::vector<std::string> ids;
    for (const auto& [id, _] : products) ids.push_back(id);
    // ORDER BY before the lock: rows are locked in product_id order.
    return tx.query_later(std::string("SELECT ") + kProductColumns +
                              " FROM inventory_products WHERE product_id = ANY($1::uuid[])"
                              " ORDER BY product_id FOR UPDATE",
                          ids);
}

oms::Result lock_products(oms::Tx& tx, const StockDeltas& products) { return lock_products_later(tx, products).get(); }

void apply_stock_deltas(oms::Tx& tx, const StockDeltas& deltas) {
    std::vector<std::string> ids;
    std::vector<int64_t> on_hand, reserved;
    for (const auto& [id, d] : deltas) {
        ids.push_back(id);
        on_hand.push_back(d.on_hand);
        reserved.push_back(d.reserved);
    }
    auto changed = tx.exec(
        "UPDATE inventory_products p"
        " SET on_hand = p.on_hand + d.on_hand, reserved = p.reserved + d.reserved, updated_at = now()"
        " FROM unnest($1::uuid[], $2::bigint[], $3::bigint[]) AS d(product_id, on_hand, reserved)"
        " WHERE p.product_id = d.product_id",
        ids, on_hand, reserved);
    if (changed != deltas.size())
        throw std::runtime_error("stock update changed " + std::to_string(changed) + " of " +
                                 std::to_string(deltas.size()) + " products");
}

void record_movements(oms::Tx& tx, const StockDeltas& deltas, std::string_view reason,
                      const std::optional<std::string>& order_id, const std::optional<std::string>& actor) {
    oms::json rows = oms::json::array();
    for (const auto& [id, d] : deltas)
        if (d.on_hand != 0) rows.push_back({{"product_id", id}, {"delta", d.on_hand}});
    if (rows.empty()) return;
    tx.exec("INSERT INTO inventory_movements (product_id, delta_on_hand, reason, order_id, actor)"
            " SELECT m.product_id, m.delta, $2, $3::uuid, $4"
            " FROM jsonb_to_recordset($1::jsonb) AS m(product_id uuid, delta integer)",
            rows, reason, order_id, actor);
}

}  // namespace inventory
