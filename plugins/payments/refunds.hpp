// Refunds: asked for by the admin route, by orders' payments.refund_order and
// automatically (captures that could not pay their order); made at the
// gateway by the payments.refund task; learnt from refund.* webhooks.
//
// Asking records the refund as 'requested' and enqueues the task in the same
// transaction (the host's outbox): the money moves only if the decision
// commits — a cancel rolled back after asking refunds nothing — and no row
// lock or connection is held while Razorpay answers. The task calls Razorpay
// outside any transaction and records its answer; a 5xx or no answer is
// retried (same key) until Razorpay answers; a 4xx refusal makes the refund
// 'failed' with Razorpay's description (the amount is refundable again).
//
// A refund row's id, and the X-Refund-Idempotency key derived from it, come
// from the request that asked for it: its Idempotency-Key when the client sent
// one (the same request resubmitted — after a timeout, say — names the same
// refund), else (pay_ id, how many refunds we already asked for on it). Every
// run of the task sends the same key, so Razorpay makes the refund once.
// Refunds learnt from webhooks carry no key and are not counted; a webhook
// that reports one of ours before the task recorded Razorpay's answer is
// matched by the oms_refund_id we put in its notes.
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

// Asks for a refund of `amount` (minor units) of a captured attempt: records
// it as 'requested' and enqueues the payments.refund task; `payment` must be
// locked. 409 refund_exceeds_captured when more than the attempt's refundable
// amount is asked. Returns the refund row's id.
// `request_key`: the asking request's Idempotency-Key, or empty.
std::string create_refund(oms::Tx& tx, const PaymentRow& payment, const AttemptRow& attempt, int64_t amount,
                          const std::string& reason, bool automatic, PublishRefunded publish,
                          const std::string& request_key = {});

// The payments.refund task {refund_id, publish}: makes a requested refund at
// the gateway and records the answer (see above).
void make_requested_refund(const oms::Task& task);

// A refund entity from a verified refund.created / refund.processed /
// refund.failed webhook. Statuses only move pending → processed | failed.
// Returns what happened, for the webhook's record.
std::string apply_refund_entity(oms::Tx& tx, const oms::json& refund);

// Service payments.refund_order {order_id, reason?}: asks for refunds of
// everything captured and not yet refunded of the order's payments →
// {refunds: [...]} (status 'requested' until the task has made them).
// Never publishes payment.refunded (the caller moves the order itself).
oms::json refund_order(oms::Tx& tx, const oms::json& args);

}  // namespace payments
