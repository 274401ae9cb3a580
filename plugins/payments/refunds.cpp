#include "refunds.hpp"

#include <algorithm>

#include "event_payload.hpp"
#include "gateway.hpp"
#include "payment_json.hpp"

namespace payments {
namespace {

// Razorpay's notes take at most 256 characters a value.
std::string note(const std::string& s) { return s.substr(0, 256); }

void publish_refunded_if_due(oms::Tx& tx, const PaymentRow& payment, const std::string& refund_id) {
    auto row = tx.query("UPDATE payment_refunds f SET event_published_at = now() "
                        "FROM payment_attempts a "
                        "WHERE f.id = $1::uuid AND f.status = 'processed' AND f.event_published_at IS NULL "
                        "  AND a.gateway_payment_id = f.gateway_payment_id AND a.accepted "
                        "RETURNING f.amount, f.gateway_payment_id, a.amount AS captured",
                        refund_id)
                   .first();
    if (!row) return;
    std::string pay_id = row->get<std::string>("gateway_payment_id");
    int64_t processed = tx.query("SELECT coalesce(sum(amount), 0) AS total FROM payment_refunds "
                                 "WHERE gateway_payment_id = $1 AND status = 'processed'",
                                 pay_id)
                            .at(0)
                            .get<int64_t>("total");
    tx.publish("payment.refunded", {{"order_id", payment.order_id},
                                    {"payment_id", payment.id},
                                    {"gateway_payment_id", pay_id},
                                    {"refund_id", refund_id},
                                    {"amount", row->get<int64_t>("amount")},
                                    {"refunded_total", processed},
                                    {"currency", payment.currency},
                                    {"full", processed == row->get<int64_t>("captured")}});
}

}  // namespace

std::string create_refund(oms::Tx& tx, const PaymentRow& payment, const AttemptRow& attempt, int64_t amount,
                          const std::string& reason, bool automatic, PublishRefunded publish,
                          const std::string& request_key) {
    if (amount <= 0) throw oms::validation_failed({{"amount", "must be greater than 0"}});
    if (amount > attempt.refundable())
        throw oms::conflict("refund_exceeds_captured",
                            "Only " + std::to_string(attempt.refundable()) + " (minor units) of " +
                                attempt.gateway_payment_id + " can still be refunded.");

    // The id is derived, not random: see refunds.hpp.
    auto ids = request_key.empty()
                   ? tx.query("SELECT md5($1 || ':' || count(*))::uuid::text AS id "
                              "FROM payment_refunds WHERE gateway_payment_id = $1 AND idempotency_key IS NOT NULL",
                              attempt.gateway_payment_id)
                   : tx.query("SELECT md5($1 || ':request:' || $2)::uuid::text AS id", attempt.gateway_payment_id,
                              request_key);
    std::string id = ids.at(0).get<std::string>("id");
    std::string key = "oms-" + id;
    key.erase(std::remove(key.begin(), key.end(), '-'), key.end());  // [A-Za-z0-9]: 35 characters

    oms::json entity = gateway_for(payment.simulated).refund_payment(
        attempt.gateway_payment_id, amount, key,
        {{"oms_payment_id", payment.id}, {"oms_refund_id", id}, {"reason", note(reason)}});
    std::string gateway_refund_id = string_field(entity, "id");
    if (gateway_refund_id.empty()) throw GatewayError(200, "", "the refund answer has no id");
    std::string status = string_field(entity, "status");
    if (refund_rank(status) < 0) status = "pending";

    // A refund we already learnt of by webhook (the answer to a repeated key)
    // keeps its row; it gains the key and our reason.
    auto row = tx.query("INSERT INTO payment_refunds (id, payment_id, gateway_payment_id, gateway_refund_id, amount, "
                        "  currency, status, reason, automatic, idempotency_key, processed_at) "
                        "VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10, "
                        "  CASE WHEN $7 = 'processed' THEN now() END) "
                        "ON CONFLICT (gateway_refund_id) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key, "
                        "  reason = EXCLUDED.reason, automatic = EXCLUDED.automatic, updated_at = now(), "
                        "  status = CASE WHEN payment_refunds.status = 'pending' THEN EXCLUDED.status "
                        "                ELSE payment_refunds.status END, "
                        "  processed_at = CASE WHEN payment_refunds.status = 'pending' THEN EXCLUDED.processed_at "
                        "                      ELSE payment_refunds.processed_at END "
                        "RETURNING id",
                        id, payment.id, attempt.gateway_payment_id, gateway_refund_id, amount, attempt.currency,
                        status, reason, automatic, key)
                   .at(0);
    std::string refund_id = row.get<std::string>("id");
    refresh_payment(tx, payment.id);
    if (publish == PublishRefunded::when_processed) publish_refunded_if_due(tx, payment, refund_id);
    oms::log::info("refund " + gateway_refund_id + " of " + std::to_string(amount) + " " + attempt.currency +
                   " on " + attempt.gateway_payment_id + " (" + status + "): " + reason);
    return refund_id;
}

std::string apply_refund_entity(oms::Tx& tx, const oms::json& refund) {
    std::string gateway_refund_id = string_field(refund, "id");
    std::string pay_id = string_field(refund, "payment_id");
    std::string status = string_field(refund, "status");
    if (gateway_refund_id.empty() || pay_id.empty()) return "ignored: the refund has no id or payment_id";
    if (refund_rank(status) < 0) return "ignored: refund status '" + status + "'";

    auto known_attempt = find_attempt(tx, pay_id);
    if (!known_attempt) return "ignored: unknown payment " + pay_id;
    auto payment = find_payment(tx, known_attempt->payment_id, Lock::for_update);  // lock first
    auto attempt = find_attempt(tx, pay_id);                                       // then read fresh

    auto existing = tx.query("SELECT id, status FROM payment_refunds WHERE gateway_refund_id = $1 FOR UPDATE",
                             gateway_refund_id)
                        .first();
    std::string refund_id;
    if (!existing) {
        // Made outside this plugin (the dashboard), or by Razorpay itself for
        // an authorization never captured (nothing of ours to record).
        if (attempt->status != "captured") return "ignored: refund of an uncaptured payment";
        auto amount = refund.find("amount");
        if (amount == refund.end() || !amount->is_number_integer() || amount->get<int64_t>() <= 0)
            return "ignored: refund without an amount";
        if (status != "failed" && amount->get<int64_t>() > attempt->refundable()) {
            oms::log::error("refund " + gateway_refund_id + " exceeds what is refundable of " + pay_id + "; ignored");
            return "ignored: exceeds the refundable amount";
        }
        refund_id = tx.query("INSERT INTO payment_refunds (id, payment_id, gateway_payment_id, gateway_refund_id, "
                             "  amount, currency, status, reason, processed_at) "
                             "VALUES (gen_random_uuid(), $1::uuid, $2, $3, $4, $5, $6, 'made at the gateway', "
                             "  CASE WHEN $6 = 'processed' THEN now() END) RETURNING id",
                             payment->id, pay_id, gateway_refund_id, amount->get<int64_t>(), attempt->currency,
                             status)
                        .at(0)
                        .get<std::string>("id");
    } else {
        std::string current = existing->get<std::string>("status");
        refund_id = existing->get<std::string>("id");
        if (refund_rank(status) <= refund_rank(current))
            return "no change: refund is " + current;
        tx.exec("UPDATE payment_refunds SET status = $2, updated_at = now(), "
                "  processed_at = CASE WHEN $2 = 'processed' THEN now() END WHERE id = $1::uuid",
                refund_id, status);
    }
    refresh_payment(tx, payment->id);
    if (status == "processed") publish_refunded_if_due(tx, *payment, refund_id);
    return "refund " + status;
}

oms::json refund_order(oms::Tx& tx, const oms::json& args) {
    std::string order_id = string_field(args, "order_id");
    std::string reason = string_field(args, "reason");
    if (reason.empty()) reason = "order cancelled";
    oms::json refunds = oms::json::array();
    for (const auto& payment : payments_of_order(tx, order_id, Lock::for_update))
        for (const auto& attempt : attempts_of(tx, payment.id))
            if (attempt.refundable() > 0) {
                auto id = create_refund(tx, payment, attempt, attempt.refundable(), reason, false,
                                        PublishRefunded::no);
                refunds.push_back(refund_json(tx, id));
            }
    return {{"refunds", std::move(refunds)}};
}

}  // namespace payments
