// POST /payments/webhook: Razorpay's signed event deliveries.
//
// The signature (X-Razorpay-Signature = hex HMAC-SHA256 of the raw body with
// RAZORPAY_WEBHOOK_SECRET) is checked in constant time before anything else;
// missing or wrong → 400 and nothing is read or written. The event id
// (X-Razorpay-Event-Id) is inserted into payment_webhook_events in the same
// transaction as the event's effect: a retry of a processed event answers
// 200 {"status":"duplicate"}, a failed one left no row and is processed again.
// Any processing error answers 5xx (the transaction rolls back whole), so
// Razorpay retries.
#pragma once

#include <oms/plugin.hpp>

#include <string>

namespace payments {

oms::Response webhook_route(oms::Request& req);

// Records the event id and applies the event, in `tx`:
//   payment.authorized / payment.captured / payment.failed / order.paid → the payment entity
//   refund.created / refund.processed / refund.failed                   → the refund entity
//   anything else → acknowledged and ignored (still recorded).
// → {"status": "processed"|"duplicate", "event", "result"}.
// The simulator (POST /payments/:id/simulate) calls it with a made-up event.
oms::json process_event(oms::Tx& tx, const std::string& event_id, const oms::json& envelope);

}  // namespace payments
