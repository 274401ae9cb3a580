// The expiry job. Each sweep is one transaction:
//  1. pick up to 100 due active reservations no one else holds (SKIP LOCKED:
//     another host's sweep, or a commit/release in flight, keeps its rows);
//  2. lock, again without waiting, every active reservation of those orders;
//     an order is expired only when this sweep holds all of its active rows,
//     so no order is ever half expired and each is expired (and announced)
//     exactly once; the others are left to whoever holds their rows;
//  3. lock the products (product_id order), then per order: mark its rows
//     expired, return the stock and publish inventory.reservation_expired
//     {order_id} for subscribers to run in this same transaction.
// A subscriber failing for one order rolls back that order only (savepoint),
// so one bad order cannot hold every other order's stock hostage.
#include <map>
#include <string>
#include <vector>

#include "reservations.hpp"
#include "stock.hpp"

namespace inventory {
namespace {

constexpr int kBatch = 100;

struct Held {
    std::vector<int64_t> ids;  // reservation ids
    StockDeltas deltas;
};

}  // namespace

void expire_reservations() {
    auto tx = oms::Tx::begin();
    auto due = tx.query("SELECT DISTINCT order_id FROM ("
                        "  SELECT order_id FROM inventory_reservations"
                        "  WHERE status = 'active' AND expires_at <= now()"
                        "  ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED) due",
                        kBatch);
    if (due.empty()) return;
    std::vector<std::string> orders;
    for (const auto& row : due) orders.push_back(row.get<std::string>("order_id"));

    std::map<std::string, Held> held;  // order_id → its rows this sweep holds
    for (const auto& row : tx.query("SELECT id, order_id, product_id, quantity FROM inventory_reservations"
                                    " WHERE order_id = ANY($1::uuid[])"
                                    "   AND status = 'active'"
                                    " ORDER BY id FOR UPDATE SKIP LOCKED",
                                    orders)) {
        auto& h = held[row.get<std::string>("order_id")];
        h.ids.push_back(row.get<int64_t>("id"));
        h.deltas[row.get<std::string>("product_id")].reserved -= row.get<int64_t>("quantity");
    }
    for (const auto& row : tx.query("SELECT order_id, count(*) AS n FROM inventory_reservations"
                                    " WHERE order_id = ANY($1::uuid[])"
                                    "   AND status = 'active' GROUP BY order_id",
                                    orders)) {
        auto it = held.find(row.get<std::string>("order_id"));
        if (it != held.end() && it->second.ids.size() != row.get<size_t>("n")) held.erase(it);  // partly held elsewhere
    }
    if (held.empty()) return;

    // Every product of the batch is locked up front, in one sorted pass:
    // locking per order could take two products in opposite orders.
    StockDeltas all;
    for (const auto& [_, h] : held)
        for (const auto& [pid, d] : h.deltas) all[pid].reserved += d.reserved;
    lock_products(tx, all);

    size_t expired_orders = 0, expired_rows = 0;
    for (const auto& [order_id, h] : held) {
        tx.exec("SAVEPOINT inventory_expire_order");
        try {
            tx.exec("UPDATE inventory_reservations SET status = 'expired', updated_at = now()"
                    " WHERE id = ANY($1::bigint[])",
                    h.ids);
            apply_stock_deltas(tx, h.deltas);
            tx.publish("inventory.reservation_expired", {{"order_id", order_id}});
            tx.exec("RELEASE SAVEPOINT inventory_expire_order");
            ++expired_orders;
            expired_rows += h.ids.size();
            oms::log::debug("reservations of order " + order_id + " expired");
        } catch (const oms::Error& e) {
            tx.exec("ROLLBACK TO SAVEPOINT inventory_expire_order");
            oms::log::warn("could not expire the reservations of order " + order_id + ": " + e.detail() +
                           " (retried next sweep)");
        }
    }
    tx.commit();
    if (expired_orders)
        oms::log::info("expired " + std::to_string(expired_rows) + " reservations of " +
                       std::to_string(expired_orders) + " orders");
}

}  // namespace inventory
