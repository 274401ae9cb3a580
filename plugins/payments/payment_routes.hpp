// The HTTP routes of the payments plugin (the webhook is in webhook.hpp).
#pragma once

#include <oms/plugin.hpp>

namespace payments {

// POST /payments {order_id} (owner; Idempotency-Key): the order's open payment
// (200), or a new Razorpay order for it (201). 409 order_not_payable unless
// the order is pending; 502 when the gateway fails (and no row is written).
oms::Response create_payment_route(oms::Request& req);

// POST /payments/verify {razorpay_order_id, razorpay_payment_id, razorpay_signature}
// (owner or admin): checks the checkout signature against the STORED gateway
// order id, fetches the payment from the gateway, captures it when it is only
// authorized (and still payable), and applies it like a webhook.
oms::Response verify_payment_route(oms::Request& req);

// GET /payments/:id (owner or admin; anyone else 404).
oms::Response get_payment_route(oms::Request& req);

// POST /payments/:id/refund {amount?, reason?} (admin) → 201 the refund.
// amount in major units, default: everything still refundable.
oms::Response refund_payment_route(oms::Request& req);

// POST /payments/:id/simulate {outcome: "captured"|"failed"} (owner or admin;
// simulated mode only): a made-up gateway payment, applied exactly as a
// verified webhook would be.
oms::Response simulate_payment_route(oms::Request& req);

// Service payments.for_order {order_id} → {payments: [...]} as GET /payments/:id shows them.
oms::ServiceResult payments_for_order(oms::Tx& tx, const oms::json& args);

}  // namespace payments
