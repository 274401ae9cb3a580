// orders: placing orders and moving them through their state machine.
//
//   POST /orders               (token, Idempotency-Key) {customer_id?, currency?, total_amount?,
//                              items: [{product_id, quantity, price?}]} → 201 the order, Location
//   GET  /orders               (token) the caller's orders; admins: everyone's, ?customer_id= ?status=;
//                              keyset pages ?limit= ?cursor=
//   GET  /orders/:id           (token) the order with items, history and payments (owner or admin; else 404)
//   POST /orders/:id/cancel    (token) {reason?}: owner while pending, admin while pending or paid
//   POST /orders/:id/status    (admin) {status, reason?}: shipped, delivered, refunded (any move the table allows)
//   events in:  payment.captured → paid; inventory.reservation_expired → expired;
//               payment.refunded (full) → refunded
//   events out: order.created, order.paid, order.cancelled, order.expired, order.shipped,
//               order.delivered, order.refunded
//   service orders.get {order_id} → {id, customer_id, status, currency, total_amount (minor units), ...}
#include <oms/pagination.hpp>
#include <oms/plugin.hpp>

#include <map>
#include <vector>

#include <string>

#include "order_actions.hpp"
#include "order_create.hpp"
#include "order_events.hpp"
#include "order_input.hpp"
#include "order_json.hpp"
#include "order_list.hpp"
#include "order_state.hpp"
#include "schemas.hpp"

namespace {

using namespace orders;

// The order as GET /orders/:id shows it (JSON text), for an order known to
// exist: its statement travels with the payments plugin's (one round trip).
std::string full_order(oms::Tx& tx, const std::string& id) {
    auto order_rows = load_order_later(tx, id);
    std::string payments = payments_of(tx, id);
    auto order = order_from(order_rows.get());
    if (!order) throw oms::not_found("No such order.");
    return with_payments(std::move(order->body), payments);
}

// An :id that cannot be an order is as unknown as a missing one.
std::string order_id_param(const oms::Request& req) {
    std::string id = req.param("id");
    if (!oms::is_uuid(id)) throw oms::not_found("No such order.");
    return id;
}

// An admin may order for another customer; that customer must exist.
void require_customer(oms::Tx& tx, const std::string& customer_id) {
    if (!oms::service_exists("users.get")) return;  // no users plugin: nothing to check against
    try {
        tx.call("users.get", {{"user_id", customer_id}});
    } catch (const oms::Error& e) {
        if (e.status() != 404 && e.status() != 400) throw;
        throw oms::validation_failed({{"customer_id", "is not a known customer"}});
    }
}

oms::Response create_order(oms::Request& req) {
    auto caller = req.require_caller();
    auto input = parse_new_order(req.json_body());
    std::string customer_id = caller.user_id;
    if (input.customer_id && *input.customer_id != caller.user_id) {
        if (!caller.is_admin()) throw oms::forbidden("You may only place orders for yourself.");
        customer_id = *input.customer_id;
    }
    auto& tx = req.tx();
    if (customer_id != caller.user_id) require_customer(tx, customer_id);
    std::string id = place_order(tx, input, customer_id, Actor::user(caller));

    auto order = load_order(tx, id);
    if (!order) throw std::logic_error("the order just placed is not there");
    return oms::Response::json_text(with_payments(std::move(order->body), "[]"), 201)  // a new order has none yet
        .header("Location", "/orders/" + id);
}

oms::Response get_order(oms::Request& req) {
    auto caller = req.require_caller();
    std::string id = order_id_param(req);
    auto& tx = req.tx();
    // The order's statement is queued and travels with the payments plugin's:
    // one round trip for both (the payments are dropped below if the order is not the caller's).
    auto order_rows = load_order_later(tx, id);
    std::string payments = payments_of(tx, id);
    auto order = order_from(order_rows.get());
    // Another customer's order is answered exactly like a missing one.
    if (!order || (!caller.is_admin() && order->customer_id != caller.user_id)) throw oms::not_found("No such order.");
    return oms::Response::json_text(with_payments(std::move(order->body), payments));
}

oms::Response cancel_order(oms::Request& req) {
    auto caller = req.require_caller();
    std::string id = order_id_param(req);
    std::string reason = parse_cancel_reason(req.json_body());
    auto& tx = req.tx();
    move_order(tx, id, "cancelled", Actor::user(caller), reason);
    return oms::Response::json_text(full_order(tx, id));
}

oms::Response change_status(oms::Request& req) {
    auto caller = req.require_caller();
    std::string id = order_id_param(req);
    auto change = parse_status_change(req.json_body());
    auto& tx = req.tx();
    move_order(tx, id, change.status, Actor::user(caller), change.reason);
    return oms::Response::json_text(full_order(tx, id));
}

// For other plugins (payments): what an order is worth and where it stands.
oms::json get_order_service(oms::Tx& tx, const oms::json& args) {
    std::string id = args.at("order_id").get<std::string>();
    if (!oms::is_uuid(id)) throw oms::not_found("No such order.");
    auto row = tx.query("SELECT id, customer_id, status, currency, total_amount, reservation_expires_at "
                        "FROM orders WHERE id = $1::uuid",
                        id)
                   .first();
    if (!row) throw oms::not_found("No such order.");
    return {{"id", row->get<std::string>("id")},
            {"customer_id", row->get<std::string>("customer_id")},
            {"status", row->get<std::string>("status")},
            {"currency", row->get<std::string>("currency")},
            {"total_amount", row->get<int64_t>("total_amount")},
            {"reservation_expires_at", row->time("reservation_expires_at")}};
}

void setup(oms::Plugin& p) {
    const auto order_id = oms::schema::uuid();
    const char* moves = "invalid_transition: the state machine does not allow this move for this caller; "
                        "order_changed: the order changed meanwhile (read it again).";
    p.route("POST", "/orders", create_order)
        .auth()
        .idempotent()
        .summary("Place an order (reserves its stock)")
        .request_schema(schemas::new_order())
        .response_schema(201, schemas::order())
        .response_header(201, "Location", "The order's URL")
        .error(400, "unknown_product: an item names no product.")
        .error(403, "forbidden: customer_id is another customer (only admins may order for others).")
        .error(409, "insufficient_stock: products (listed) lack stock; price_mismatch: a price or total_amount "
                    "differs from the server's.");
    oms::pagination::describe(p.route("GET", "/orders", list_orders), schemas::order(false))
        .auth()
        .read_only()
        .summary("List orders, newest first (keyset pages)")
        .description("A customer sees their own orders; an admin everyone's, filtered by ?customer_id= and ?status=.")
        .query_param("customer_id", oms::schema::uuid(), "Only this customer's orders")
        .query_param("status", schemas::status(), "Only orders in this status")
        .error(403, "forbidden: a customer asked for another customer's orders.");
    p.route("GET", "/orders/:id", get_order)
        .auth()
        .read_only()
        .summary("An order with its items, history and payments")
        .path_param("id", order_id)
        .response_schema(200, schemas::order());
    p.route("POST", "/orders/:id/cancel", cancel_order)
        .auth()
        .summary("Cancel an order (releases or refunds)")
        .path_param("id", order_id)
        .request_schema(schemas::cancel(), false)
        .response_schema(200, schemas::order())
        .error(409, moves);
    p.route("POST", "/orders/:id/status", change_status)
        .role("admin")
        .summary("Move an order: shipped, delivered, refunded")
        .path_param("id", order_id)
        .request_schema(schemas::status_change())
        .response_schema(200, schemas::order())
        .error(409, moves);

    // Payments may be left out (orders are then paid by no one); inventory is a dependency.
    p.subscribe("payment.captured", on_payment_captured).optional();
    p.subscribe("payment.refunded", on_payment_refunded).optional();
    p.subscribe("inventory.reservation_expired", on_reservation_expired);
    for (const char* service : {"inventory.reserve", "inventory.commit", "inventory.release", "inventory.restock"})
        p.calls(service);
    p.calls("payments.refund_order").optional();
    p.calls("payments.for_order").optional();
    p.calls("users.get").optional();

    p.service("orders.get", get_order_service, "An order's state and total; 404 not_found")
        .accepts(schemas::get_args())
        .returns(schemas::get_result());
    p.event("order.created", "An order was placed and its stock reserved", schemas::created());
    // An event per target status of the state machine (order_state.hpp), one payload.
    struct StateEvent {
        std::string to;
        std::vector<std::string> from;
    };
    std::map<std::string, StateEvent> state_events;
    for (const auto& move : kMoves) {
        auto& e = state_events[std::string(move.event)];
        e.to = move.to;
        e.from.emplace_back(move.from);
    }
    for (const auto& [event, e] : state_events) {
        std::string froms;
        for (const auto& f : e.from) froms += (froms.empty() ? "" : " or ") + f;
        p.event(event, "The order became " + e.to + " (from " + froms + ")", schemas::status_changed(e.from, e.to));
    }
}

}  // namespace

OMS_PLUGIN("orders", "1.0.0", "Orders: placement with stock reservation, state machine, history", setup, "inventory")
