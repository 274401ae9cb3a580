// Events from other plugins that move orders. Subscribers run inside the
// publisher's transaction, so (for example) a payment capture, the order
// becoming paid and its stock being committed commit together or not at all.
#pragma once

#include <oms/plugin.hpp>

#include <string_view>

namespace orders {

// payment.captured {order_id, payment_id, amount (minor units), currency}:
// a pending order whose total and currency match is paid (stock committed
// through inventory.commit). A differing amount never pays an order (logged,
// nothing changes); an order that is no longer pending is left alone — the
// payments plugin refunds late captures.
void on_payment_captured(oms::Tx& tx, std::string_view event, const oms::json& payload);

// inventory.reservation_expired {order_id}: a pending order expires (its
// stock was already released by inventory); any other status is left alone,
// so a duplicate or late event changes nothing.
void on_reservation_expired(oms::Tx& tx, std::string_view event, const oms::json& payload);

// payment.refunded {order_id, payment_id, amount, refunded_total, currency,
// full}: when a payment is fully refunded (a refund an admin made at the
// gateway, or one processed later), a paid or delivered order becomes
// refunded. Partial refunds and orders in other statuses (an admin's cancel
// already moved them) change nothing, so replays are harmless.
void on_payment_refunded(oms::Tx& tx, std::string_view event, const oms::json& payload);

}  // namespace orders
