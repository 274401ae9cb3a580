#include "stock.hpp"

#include "product.hpp"

namespace inventory {

oms::Result lock_products(oms::Tx& tx, const StockDeltas& products) {
    oms::json ids = oms::json::array();
    for (const auto& [id, _] : products) ids.push_back(id);
    // ORDER BY before the lock: rows are locked in product_id order.
    return tx.query(std::string("SELECT ") + kProductColumns +
                        " FROM inventory_products"
                        " WHERE product_id IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid)"
                        " ORDER BY product_id FOR UPDATE",
                    ids);
}

void apply_stock_deltas(oms::Tx& tx, const StockDeltas& deltas) {
    oms::json rows = oms::json::array();
    for (const auto& [id, d] : deltas) rows.push_back({{"product_id", id}, {"on_hand", d.on_hand}, {"reserved", d.reserved}});
    auto changed = tx.exec(
        "UPDATE inventory_products p"
        " SET on_hand = p.on_hand + d.on_hand, reserved = p.reserved + d.reserved, updated_at = now()"
        " FROM jsonb_to_recordset($1::jsonb) AS d(product_id uuid, on_hand bigint, reserved bigint)"
        " WHERE p.product_id = d.product_id",
        rows);
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
