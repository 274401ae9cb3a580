#include "refunds.hpp"

#include <algorithm>

#include "event_payload.hpp"
#include "gateway.hpp"
#include "payment_json.hpp"

namespace payments {
namespace {

// Razorpay's notes take at most 256 characters a value.
std::string note(const std::string& s) { return s.substr(0, 256); }

// The oms_refund_id we put in a refund's notes (Razorpay sends [] for no notes).
std::string oms_refund_id_of(const oms::json& refund) {
    auto notes = refund.find("notes");
    if (notes == refund.end() || !notes->is_object()) return {};
    std::string id = string_field(*notes, "oms_refund_id");
    return looks_like_uuid(id) ? id : std::string();
}

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

    (void)gateway_for(payment.simulated);  // 409 gateway_not_configured now, not in the task

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

    tx.exec("INSERT INTO payment_refunds (id, payment_id, gateway_payment_id, amount, currency, status, reason, "
            "  automatic, idempotency_key) "
            "VALUES ($1::uuid, $2::uuid, $3, $4, $5, 'requested', $6, $7, $8)",
            id, payment.id, attempt.gateway_payment_id, amount, attempt.currency, reason, automatic, key);
    refresh_payment(tx, payment.id);
    tx.enqueue("payments.refund", {{"refund_id", id}, {"publish", publish == PublishRefunded::when_processed}}, id);
    oms::log::info("refund of " + std::to_string(amount) + " " + attempt.currency + " on " +
                   attempt.gateway_payment_id + " requested: " + reason);
    return id;
}

void make_requested_refund(const oms::Task& task) {
    std::string refund_id = task.payload.value("refund_id", "");
    bool publish = task.payload.value("publish", false);

    // What to ask for, read in a transaction that ends before the gateway is called.
    std::string pay_id, key, reason, payment_id;
    int64_t amount = 0;
    bool simulated = false;
    {
        auto tx = oms::Tx::begin();
        auto row = tx.query("SELECT f.status, f.gateway_payment_id, f.amount, f.idempotency_key, "
                            "  coalesce(f.reason, '') AS reason, f.payment_id, p.simulated "
                            "FROM payment_refunds f JOIN payments p ON p.id = f.payment_id WHERE f.id = $1::uuid",
                            refund_id)
                       .first();
        if (!row || row->get<std::string>("status") != "requested") return;  // made already
        pay_id = row->get<std::string>("gateway_payment_id");
        amount = row->get<int64_t>("amount");
        key = row->get<std::string>("idempotency_key");
        reason = row->get<std::string>("reason");
        payment_id = row->get<std::string>("payment_id");
        simulated = row->get<bool>("simulated");
    }

    oms::json entity;
    std::string refusal;
    try {
        entity = gateway_for(simulated).refund_payment(
            pay_id, amount, key, {{"oms_payment_id", payment_id}, {"oms_refund_id", refund_id}, {"reason", note(reason)}});
    } catch (const GatewayError& e) {
        // No answer, a 5xx or a 429: thrown on, so the task runs again (same key).
        int status = e.http_status();
        if (status < 400 || status >= 500 || status == 429) throw;
        refusal = e.description().empty() ? e.gateway_code() : e.description();
    }

    auto tx = oms::Tx::begin();
    auto payment = find_payment(tx, payment_id, Lock::for_update);
    if (!refusal.empty()) {
        tx.exec("UPDATE payment_refunds SET status = 'failed', failure_reason = $2, updated_at = now() "
                "WHERE id = $1::uuid AND status = 'requested'",
                refund_id, refusal.substr(0, 500));
        refresh_payment(tx, payment_id);
        tx.commit();
        oms::log::error("refund " + refund_id + " of " + std::to_string(amount) + " on " + pay_id +
                        " refused by the gateway: " + refusal);
        return;
    }
    std::string gateway_refund_id = string_field(entity, "id");
    if (gateway_refund_id.empty()) throw GatewayError(200, "", "the refund answer has no id");
    std::string status = string_field(entity, "status");
    if (refund_rank(status) < 0) status = "pending";
    // A webhook may have reported it first (matched by our id in its notes):
    // its status stands.
    tx.exec("UPDATE payment_refunds SET gateway_refund_id = $2, updated_at = now(), "
            "  status = CASE WHEN status = 'requested' THEN $3 ELSE status END, "
            "  processed_at = CASE WHEN status = 'requested' AND $3 = 'processed' THEN now() ELSE processed_at END "
            "WHERE id = $1::uuid",
            refund_id, gateway_refund_id, status);
    refresh_payment(tx, payment_id);
    if (publish) publish_refunded_if_due(tx, *payment, refund_id);
    tx.commit();
    oms::log::info("refund " + gateway_refund_id + " of " + std::to_string(amount) + " on " + pay_id + " (" +
                   status + "): " + reason);
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
    if (!existing) {
        // One of ours that the payments.refund task has not recorded yet.
        std::string ours = oms_refund_id_of(refund);
        if (!ours.empty())
            existing = tx.query("SELECT id, status FROM payment_refunds "
                                "WHERE id = $1::uuid AND gateway_payment_id = $2 AND gateway_refund_id IS NULL "
                                "FOR UPDATE",
                                ours, pay_id)
                           .first();
        if (existing)
            tx.exec("UPDATE payment_refunds SET gateway_refund_id = $2 WHERE id = $1::uuid",
                    existing->get<std::string>("id"), gateway_refund_id);
    }
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
        if (current != "requested" && refund_rank(status) <= refund_rank(current))
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
