// GET /orders: a customer's own orders, or (admins) everyone's, filtered by
// ?customer_id= and ?status=, newest first, in keyset pages of ?limit=.
// Each order carries its items (one extra query per page, not per order) but
// not its history or payments: GET /orders/:id has those.
#pragma once

#include <oms/plugin.hpp>

namespace orders {

oms::Response list_orders(oms::Request& req);

}  // namespace orders
