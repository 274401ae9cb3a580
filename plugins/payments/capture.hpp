// What a Razorpay payment entity means for us. Every source goes through
// apply_payment_entity: a verified webhook's snapshot, a payment fetched from
// the gateway after a verified checkout, and the simulator's made-up payment.
//
// Attempts (pay_ ids) only move forward:
//   created → failed → authorized → captured   (failed → authorized | captured is
// Razorpay's late authorization), so events in any order reach the same end
// state, and a repeated one changes nothing.
//
// A capture publishes payment.captured {order_id, payment_id, gateway_payment_id,
// amount (minor), currency} when the order is pending with the same amount and
// currency; the orders plugin's subscriber marks it paid and commits its stock
// in this transaction. A capture the order does not accept — expired,
// cancelled, already paid by another payment, or another amount — is refunded
// at once, in full, with the reason recorded.
#pragma once

#include <oms/plugin.hpp>

#include <string>

namespace payments {

// Returns what happened, for the webhook's record. Throws 503 (Retry-After)
// when the order changed under a concurrent expiry or cancel (so Razorpay
// retries and the retry refunds), 502 when an automatic refund fails.
std::string apply_payment_entity(oms::Tx& tx, const oms::json& payment);

// orders.get {order_id} → {id, customer_id, status, currency, total_amount, ...}.
oms::json order_of(oms::Tx& tx, const std::string& order_id);

}  // namespace payments
