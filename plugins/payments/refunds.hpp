// Refunds: made through the gateway (admin route, orders' payments.refund_order,
// automatic refunds of captures that could not pay their order) and learnt
// from refund.* webhooks.
//
// A refund row's id, and the X-Refund-Idempotency key derived from it, come
// from the request that asked for it: its Idempotency-Key when the client sent
// one (the same request resubmitted — after a timeout, say — sends the same
// gateway key, so Razorpay returns that refund instead of making a second),
// else (pay_ id, how many refunds we already asked for on it): if the
// transaction that asked for a refund rolls back after the gateway made it
// (a later statement failed, the host died before COMMIT), the retry sends the
// same key. Refunds learnt from webhooks carry no key and are not counted.
//
// payment.refunded {order_id, payment_id, gateway_payment_id, refund_id,
// amount (this refund, minor), refunded_total (minor), currency, full} is
// published once per refund, when it becomes processed, and only for the
// capture that paid the order (an automatic refund of a capture the order
// never accepted must not move the order).
#pragma once

#include <oms/plugin.hpp>

#include <string>

#include "payment_store.hpp"

namespace payments {

enum class PublishRefunded { no, when_processed };

// Refunds `amount` (minor units) of a captured attempt at the gateway and
// records it; `payment` must be locked. 409 refund_exceeds_captured when more
// than the attempt's refundable amount is asked; 502 when the gateway fails.
// Returns the refund row's id.
// `request_key`: the asking request's Idempotency-Key, or empty.
std::string create_refund(oms::Tx& tx, const PaymentRow& payment, const AttemptRow& attempt, int64_t amount,
                          const std::string& reason, bool automatic, PublishRefunded publish,
                          const std::string& request_key = {});

// A refund entity from a verified refund.created / refund.processed /
// refund.failed webhook. Statuses only move pending → processed | failed.
// Returns what happened, for the webhook's record.
std::string apply_refund_entity(oms::Tx& tx, const oms::json& refund);

// Service payments.refund_order {order_id, reason?}: refunds everything
// captured and not yet refunded of the order's payments → {refunds: [...]}.
// Never publishes payment.refunded (the caller moves the order itself).
oms::json refund_order(oms::Tx& tx, const oms::json& args);

}  // namespace payments
