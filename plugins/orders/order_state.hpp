// The order state machine, written once as a table, and transition(): the
// only code that changes an order's status (HTTP routes and event
// subscribers alike go through it).
#pragma once

#include <oms/plugin.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace orders {

// Who may make a move. An admin is not implicitly the owner: each row says
// exactly who may use it.
enum Party : unsigned {
    kOwner = 1u,   // the customer who placed the order
    kAdmin = 2u,   // a user with the admin role
    kSystem = 4u,  // the plugins themselves: payments, reservation expiry
};

struct Move {
    std::string_view from;
    std::string_view to;
    unsigned who;             // Party bits
    std::string_view event;   // published when the move is made
};

// SPEC §3: pending → paid | cancelled | expired; paid → shipped | cancelled |
// refunded; shipped → delivered; delivered → refunded. Anything else is 409.
// A customer may only cancel while pending: a paid order's cancellation
// refunds money, which stays an admin's decision (a customer asking gets 409
// invalid_transition, not 403: the route is theirs, the move is not).
inline constexpr Move kMoves[] = {
    {"pending", "paid", kSystem, "order.paid"},
    {"pending", "cancelled", kOwner | kAdmin, "order.cancelled"},
    {"pending", "expired", kSystem, "order.expired"},
    {"paid", "shipped", kAdmin, "order.shipped"},
    {"paid", "cancelled", kAdmin, "order.cancelled"},
    {"paid", "refunded", kAdmin | kSystem, "order.refunded"},
    {"shipped", "delivered", kAdmin, "order.delivered"},
    {"delivered", "refunded", kAdmin | kSystem, "order.refunded"},
};

inline constexpr std::string_view kStatuses[] = {"pending", "paid", "cancelled", "expired",
                                                 "shipped", "delivered", "refunded"};
bool is_status(std::string_view s);

// Who is acting: the name goes into the history (a user id, "system",
// "payments"); the parties decide what the table allows.
struct Actor {
    std::string name;
    unsigned parties = 0;  // customers get kOwner per order, when it is theirs

    static Actor user(const oms::Caller& caller);
    static Actor system(std::string name = "system");
};

// What the state machine needs of an order row.
struct OrderState {
    std::string id, customer_id, status, currency;
    int64_t total_amount = 0;
};

// The order as committed now (no lock); nullopt when there is no such order.
std::optional<OrderState> read_order(oms::Tx& tx, const std::string& order_id);
// SELECT ... FOR UPDATE: the row stays locked until the transaction ends.
std::optional<OrderState> lock_order(oms::Tx& tx, const std::string& order_id);

// Whether `actor` may see the order at all: admins and the system see every
// order, a customer only their own (others are 404, existence not leaked).
bool may_see(const OrderState& order, const Actor& actor);

// The table row for order.status → to, if `actor` may use it; otherwise
// 409 invalid_transition naming both statuses.
const Move& require_move(const OrderState& order, std::string_view to, const Actor& actor);

// Locks the order, checks the table, updates it, writes the history row and
// publishes the move's event ({order_id, customer_id, from, to, total_amount
// (minor units), currency, actor, reason}) — all in `tx`. Returns the order
// as it was before. 404 when the order does not exist (or, for a customer,
// is not theirs).
//
// Lock order: inventory's reservation rows first, the order row second —
// the order inventory's expiry job takes them in (it locks reservations, then
// publishes inventory.reservation_expired, whose subscriber locks the order).
// So a caller checks the move on read_order(), makes its inventory call
// (which locks the reservations), and calls transition() last. If the order
// changed in between, transition()'s re-check under the lock refuses the
// move, and the inventory call is rolled back with the transaction: with
// `expected_from` (the status the caller's side effects were chosen for) any
// other status is 409 order_changed, so a retry sees the new state.
OrderState transition(oms::Tx& tx, const std::string& order_id, std::string_view to, const Actor& actor,
                      std::string_view reason, std::optional<std::string_view> expected_from = std::nullopt);

// The history row of a change (from = nullopt at creation).
void record_history(oms::Tx& tx, const std::string& order_id, std::optional<std::string_view> from,
                    std::string_view to, const Actor& actor, std::string_view reason);

}  // namespace orders
