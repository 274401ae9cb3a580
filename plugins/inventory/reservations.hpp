// Reservations: stock held for an order, through services other plugins
// call inside their own transaction (see SPEC §2 "Talking between plugins").
//
//   inventory.reserve  {order_id, items: [{product_id, quantity}], ttl_seconds?}
//                      → {items: [{product_id, sku, name, unit_price, currency, quantity}], expires_at}
//   inventory.commit   {order_id}          active → committed (paid): on_hand and reserved drop
//   inventory.release  {order_id, reason?} active → released (cancelled): reserved drops; idempotent
//   inventory.restock  {order_id}          committed → restocked (refunded): on_hand grows back
//
// Every service that touches an order's reservations first locks them (in
// id order): they are the order's mutex against the expiry job and against
// another commit or release of the same order.
#pragma once

#include <oms/plugin.hpp>

#include <cstdint>

namespace inventory {

inline constexpr int64_t kMaxTtlSeconds = 604800;  // a week

// ttl_seconds when the caller gives none (OMS_RESERVATION_TTL).
void set_default_ttl(int64_t seconds);

oms::json reserve(oms::Tx& tx, const oms::json& args);
oms::json commit(oms::Tx& tx, const oms::json& args);
oms::json release(oms::Tx& tx, const oms::json& args);
oms::json restock(oms::Tx& tx, const oms::json& args);

// The expiry job: expires due reservations, whole orders at a time, and
// publishes inventory.reservation_expired {order_id} once per order.
// Safe on several hosts at once.
void expire_reservations();

}  // namespace inventory
