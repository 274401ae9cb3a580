#include "capture.hpp"

#include "event_payload.hpp"
#include "payment_store.hpp"
#include "refunds.hpp"

namespace payments {
namespace {

// Why a captured attempt cannot pay its order, or "" when it can.
std::string refusal(const oms::json& order, int64_t amount, const std::string& currency) {
    std::string status = order.value("status", "");
    if (status.empty()) return "order not found";
    if (status == "pending") {
        bool same = order.value("total_amount", int64_t{-1}) == amount && order.value("currency", "") == currency;
        return same ? "" : "amount mismatch";
    }
    if (status == "expired") return "order expired";
    if (status == "cancelled") return "order cancelled";
    return "duplicate payment (order already " + status + ")";
}

// A pending order with the right amount: publish, and see whether it took.
bool pay_order(oms::Tx& tx, const std::string& order_id, const std::string& payment_id,
               const std::string& gateway_payment_id, int64_t amount, const std::string& currency) {
    try {
        tx.publish("payment.captured", {{"order_id", order_id},
                                        {"payment_id", payment_id},
                                        {"gateway_payment_id", gateway_payment_id},
                                        {"amount", amount},
                                        {"currency", currency}});
    } catch (const oms::Error& e) {
        // The reservation expired or the order was cancelled while we ran
        // (reservation_not_active, order_changed): roll everything back and
        // have the gateway retry; the retry finds the order no longer pending
        // and refunds.
        if (e.status() != 409) throw;
        oms::log::warn("capture " + gateway_payment_id + " raced a change of order " + order_id + ": " + e.detail());
        throw oms::Error(503, "order_changed", "The order changed while the payment was applied; retry.")
            .with_header("Retry-After", "1");
    }
    return order_of(tx, order_id).value("status", "") == "paid";
}

// The order, or {} when it no longer exists (its money is refunded, rather
// than the event failing forever and Razorpay disabling the webhook).
oms::json order_or_nothing(oms::Tx& tx, const std::string& order_id) {
    try {
        return order_of(tx, order_id);
    } catch (const oms::Error& e) {
        if (e.status() != 404) throw;
        return oms::json::object();
    }
}

std::string settle_capture(oms::Tx& tx, const PaymentRow& payment, const AttemptRow& attempt) {
    oms::json order = order_or_nothing(tx, payment.order_id);
    std::string why = refusal(order, attempt.amount, attempt.currency);
    if (why.empty()) {
        if (pay_order(tx, payment.order_id, payment.id, attempt.gateway_payment_id, attempt.amount,
                      attempt.currency)) {
            tx.exec("UPDATE payment_attempts SET accepted = true, outcome = 'paid the order', updated_at = now() "
                    "WHERE gateway_payment_id = $1",
                    attempt.gateway_payment_id);
            return "captured; order paid";
        }
        why = "order not paid";  // a subscriber declined it; never keep money for an unpaid order
    }
    tx.exec("UPDATE payment_attempts SET outcome = $2, updated_at = now() WHERE gateway_payment_id = $1",
            attempt.gateway_payment_id, why);
    oms::log::warn("capture " + attempt.gateway_payment_id + " for order " + payment.order_id + " not accepted (" +
                   why + "); refunding it");
    create_refund(tx, payment, attempt, attempt.refundable(), why, true, PublishRefunded::no);
    return "captured; refunded automatically: " + why;
}

}  // namespace

oms::json order_of(oms::Tx& tx, const std::string& order_id) {
    return tx.call("orders.get", {{"order_id", order_id}});
}

std::string apply_payment_entity(oms::Tx& tx, const oms::json& payment) {
    std::string pay_id = string_field(payment, "id");
    std::string gateway_order_id = string_field(payment, "order_id");
    if (pay_id.empty() || gateway_order_id.empty()) return "ignored: the payment has no id or order_id";

    auto row = find_payment_by_gateway_order(tx, gateway_order_id, Lock::for_update);
    if (!row) {
        oms::log::warn("payment " + pay_id + " for unknown gateway order " + gateway_order_id + "; ignored");
        return "ignored: unknown order " + gateway_order_id;
    }
    std::string target = target_status(payment);
    if (target.empty()) return "ignored: payment status '" + string_field(payment, "status") + "'";

    auto amount = payment.find("amount");
    if (amount == payment.end() || !amount->is_number_integer() || amount->get<int64_t>() <= 0)
        return "ignored: the payment has no amount";
    std::string currency = string_field(payment, "currency");
    if (currency.empty()) currency = row->currency;
    std::string method = string_field(payment, "method");

    tx.exec("INSERT INTO payment_attempts (gateway_payment_id, payment_id, status, amount, currency, method) "
            "VALUES ($1, $2::uuid, 'created', $3, $4, nullif($5, '')) ON CONFLICT (gateway_payment_id) DO NOTHING",
            pay_id, row->id, amount->get<int64_t>(), currency, method);
    auto attempt = find_attempt(tx, pay_id);
    if (attempt->payment_id != row->id) {
        oms::log::error("payment " + pay_id + " is recorded under another gateway order; ignored");
        return "ignored: payment belongs to another order";
    }
    if (attempt_rank(target) <= attempt_rank(attempt->status)) return "no change: payment " + pay_id + " is " + attempt->status;

    std::string result;
    if (target == "captured") {
        tx.exec("UPDATE payment_attempts SET status = 'captured', captured_at = now(), updated_at = now(), "
                "  method = coalesce(method, nullif($2, '')) WHERE gateway_payment_id = $1",
                pay_id, method);
        attempt = find_attempt(tx, pay_id);
        result = settle_capture(tx, *row, *attempt);
    } else if (target == "failed") {
        tx.exec("UPDATE payment_attempts SET status = 'failed', updated_at = now(), error_code = $2, "
                "  error_description = $3, error_reason = $4 WHERE gateway_payment_id = $1",
                pay_id, string_field(payment, "error_code"), string_field(payment, "error_description"),
                string_field(payment, "error_reason"));
        result = "payment failed";
    } else {
        tx.exec("UPDATE payment_attempts SET status = 'authorized', updated_at = now() WHERE gateway_payment_id = $1",
                pay_id);
        result = "payment authorized";
    }
    refresh_payment(tx, row->id);
    return result;
}

}  // namespace payments
