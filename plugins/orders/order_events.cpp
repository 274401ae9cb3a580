#include "order_events.hpp"

#include "order_input.hpp"
#include "order_state.hpp"

namespace orders {
namespace {

// The order id of an event, or nullopt (logged) when the payload has none.
std::optional<std::string> order_id_of(std::string_view event, const oms::json& payload) {
    if (payload.is_object()) {
        auto it = payload.find("order_id");
        if (it != payload.end() && it->is_string() && oms::is_uuid(it->get<std::string>()))
            return it->get<std::string>();
    }
    oms::log::warn(std::string(event) + " without a valid order_id; ignored");
    return std::nullopt;
}

}  // namespace

void on_payment_captured(oms::Tx& tx, std::string_view event, const oms::json& payload) {
    auto id = order_id_of(event, payload);
    if (!id) return;
    // Not locked yet: inventory.commit below locks the reservations, then
    // transition() the order (the lock order of order_state.hpp), and
    // re-checks that it is still pending.
    auto order = read_order(tx, *id);
    if (!order) {
        oms::log::warn("payment.captured for unknown order " + *id + "; ignored");
        return;
    }
    if (order->status != "pending") return;

    auto amount = payload.find("amount");
    auto currency = payload.find("currency");
    bool same_amount = amount != payload.end() && amount->is_number_integer() &&
                       amount->get<int64_t>() == order->total_amount;
    bool same_currency = currency != payload.end() && currency->is_string() &&
                         currency->get<std::string>() == order->currency;
    if (!same_amount || !same_currency) {
        oms::log::warn("payment.captured for order " + *id + " with amount " +
                       (amount != payload.end() ? amount->dump() : "none") + " " +
                       (currency != payload.end() ? currency->dump() : "none") + " but the order is " +
                       std::to_string(order->total_amount) + " " + order->currency + "; not marked paid");
        return;
    }

    // The reservation becomes a sale. If it is gone (expired or released
    // since the read above), 409 reservation_not_active aborts the whole
    // capture; on the gateway's retry the order is no longer pending, and
    // the payments plugin refunds the late capture.
    tx.call("inventory.commit", {{"order_id", *id}});
    std::string reason = "payment captured";
    if (auto p = payload.find("payment_id"); p != payload.end() && p->is_string())
        reason += " (" + p->get<std::string>() + ")";
    transition(tx, *id, "paid", Actor::system("payments"), reason, "pending");
}

void on_reservation_expired(oms::Tx& tx, std::string_view event, const oms::json& payload) {
    auto id = order_id_of(event, payload);
    if (!id) return;
    // Inventory holds the reservations' locks already; this takes the order's.
    auto order = lock_order(tx, *id);
    if (!order || order->status != "pending") return;
    transition(tx, *id, "expired", Actor::system("system"), "reservation expired");
}

void on_payment_refunded(oms::Tx& tx, std::string_view event, const oms::json& payload) {
    auto id = order_id_of(event, payload);
    if (!id) return;
    auto full = payload.find("full");
    if (full == payload.end() || !full->is_boolean() || !full->get<bool>()) return;
    auto order = lock_order(tx, *id);
    if (!order || (order->status != "paid" && order->status != "delivered")) return;
    std::string reason = "payment refunded";
    if (auto p = payload.find("payment_id"); p != payload.end() && p->is_string())
        reason += " (" + p->get<std::string>() + ")";
    transition(tx, *id, "refunded", Actor::system("payments"), reason);
}

}  // namespace orders
