#include "order_actions.hpp"

namespace orders {
namespace {

void refund_if_payments_loaded(oms::Tx& tx, const std::string& order_id, std::string_view reason) {
    if (!oms::service_exists("payments.refund_order")) return;
    tx.call("payments.refund_order", {{"order_id", order_id}, {"reason", reason}});
}

}  // namespace

void move_order(oms::Tx& tx, const std::string& order_id, std::string_view to, const Actor& actor,
                std::string_view reason) {
    // Checked before any side effect, so a refused move touches nothing;
    // transition() checks again under the row lock (see its lock order).
    auto order = read_order(tx, order_id);
    if (!order || !may_see(*order, actor)) throw oms::not_found("No such order.");
    require_move(*order, to, actor);

    if (to == "cancelled" && order->status == "pending") {
        tx.call("inventory.release", {{"order_id", order_id}, {"reason", reason.empty() ? "cancelled" : reason}});
    } else if (to == "cancelled" && order->status == "paid") {
        refund_if_payments_loaded(tx, order_id, reason);
        tx.call("inventory.restock", {{"order_id", order_id}});
    } else if (to == "refunded") {
        refund_if_payments_loaded(tx, order_id, reason);
    }
    transition(tx, order_id, to, actor, reason, order->status);
}

}  // namespace orders
