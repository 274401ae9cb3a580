#include "order_state.hpp"

namespace orders {

bool is_status(std::string_view s) {
    for (auto st : kStatuses)
        if (st == s) return true;
    return false;
}

Actor Actor::user(const oms::Caller& caller) {
    return {caller.user_id, caller.is_admin() ? unsigned(kAdmin) : 0u};
}

Actor Actor::system(std::string name) { return {std::move(name), kSystem}; }

namespace {

std::optional<OrderState> select_order(oms::Tx& tx, const std::string& order_id, bool lock) {
    auto row = tx.query(lock ? "SELECT id, customer_id, status, currency, total_amount FROM orders "
                               "WHERE id = $1::uuid FOR UPDATE"
                             : "SELECT id, customer_id, status, currency, total_amount FROM orders "
                               "WHERE id = $1::uuid",
                        order_id)
                   .first();
    if (!row) return std::nullopt;
    return OrderState{row->get<std::string>("id"), row->get<std::string>("customer_id"),
                      row->get<std::string>("status"), row->get<std::string>("currency"),
                      row->get<int64_t>("total_amount")};
}

}  // namespace

std::optional<OrderState> read_order(oms::Tx& tx, const std::string& order_id) {
    return select_order(tx, order_id, false);
}

std::optional<OrderState> lock_order(oms::Tx& tx, const std::string& order_id) {
    return select_order(tx, order_id, true);
}

bool may_see(const OrderState& order, const Actor& actor) {
    return actor.parties != 0 || actor.name == order.customer_id;
}

const Move& require_move(const OrderState& order, std::string_view to, const Actor& actor) {
    unsigned parties = actor.parties;
    if (actor.name == order.customer_id) parties |= kOwner;
    for (const auto& m : kMoves) {
        if (m.from != order.status || m.to != to) continue;
        if (m.who & parties) return m;
        throw oms::conflict("invalid_transition", "You may not move this order from " + order.status + " to " +
                                                      std::string(to) + ".");
    }
    throw oms::conflict("invalid_transition",
                        "An order cannot move from " + order.status + " to " + std::string(to) + ".");
}

void record_history(oms::Tx& tx, const std::string& order_id, std::optional<std::string_view> from,
                    std::string_view to, const Actor& actor, std::string_view reason) {
    std::optional<std::string> from_text, reason_text;
    if (from) from_text = std::string(*from);
    if (!reason.empty()) reason_text = std::string(reason);
    tx.exec("INSERT INTO order_status_history (order_id, from_status, to_status, actor, reason) "
            "VALUES ($1::uuid, $2, $3, $4, $5)",
            order_id, from_text, to, actor.name, reason_text);
}

OrderState transition(oms::Tx& tx, const std::string& order_id, std::string_view to, const Actor& actor,
                      std::string_view reason, std::optional<std::string_view> expected_from) {
    auto order = lock_order(tx, order_id);
    if (!order || !may_see(*order, actor)) throw oms::not_found("No such order.");
    if (expected_from && order->status != *expected_from)
        throw oms::conflict("order_changed", "The order became " + order->status + " while this request ran (it was " +
                                                 std::string(*expected_from) + "); read it again.");
    const Move& move = require_move(*order, to, actor);

    tx.exec("UPDATE orders SET status = $2, updated_at = now() WHERE id = $1::uuid", order_id, to);
    record_history(tx, order_id, order->status, to, actor, reason);
    tx.publish(move.event, {{"order_id", order_id},
                            {"customer_id", order->customer_id},
                            {"from", order->status},
                            {"to", to},
                            {"total_amount", order->total_amount},
                            {"currency", order->currency},
                            {"actor", actor.name},
                            {"reason", reason.empty() ? oms::json(nullptr) : oms::json(reason)}});
    return *order;
}

}  // namespace orders
