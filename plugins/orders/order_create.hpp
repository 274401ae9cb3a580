// Placing an order: one transaction that inserts it, reserves its stock
// through inventory.reserve, checks the client's prices against the
// server's, writes its lines and history, and publishes order.created.
#pragma once

#include <oms/plugin.hpp>

#include <string>

#include "order_input.hpp"
#include "order_state.hpp"

namespace orders {

// Returns the new order's id. Errors of inventory.reserve (400
// unknown_product, 409 insufficient_stock) pass through unchanged; 409
// currency_mismatch / price_mismatch when the client's view disagrees with
// the catalogue. Any error leaves nothing behind: the caller's transaction
// is rolled back with it.
std::string place_order(oms::Tx& tx, const NewOrder& order, const std::string& customer_id, const Actor& actor);

}  // namespace orders
