// Status changes asked for over HTTP (cancel, and the admin's /status),
// with what each one does besides the status: stock released or restocked,
// money refunded through the payments plugin when it is loaded (asked for in
// the move's transaction; made at the gateway after it commits).
#pragma once

#include <oms/plugin.hpp>

#include <string>
#include <string_view>

#include "order_state.hpp"

namespace orders {

// Checks the move against the table for `actor` (404 for another
// customer's order, 409 invalid_transition), does the move's side effects,
// then transition(), which locks the order and checks again. Everything in `tx`.
//   pending → cancelled: inventory.release
//   paid → cancelled:    payments.refund_order (when loaded), inventory.restock
//   → refunded:          payments.refund_order (when loaded); stock is untouched
//                        (returned goods are restocked by an admin through PATCH /inventory)
void move_order(oms::Tx& tx, const std::string& order_id, std::string_view to, const Actor& actor,
                std::string_view reason);

}  // namespace orders
