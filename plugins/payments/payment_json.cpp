#include "payment_json.hpp"

namespace payments {
namespace {

// PostgreSQL builds the API's JSON (oms_money_json / oms_time_json are the
// host's SQL helpers: docs/plugin-guide.md), so an answer is passed through
// as text instead of being parsed into a document and written out again.

// A refund (alias f), its amount in the currency of its row.
constexpr const char* kRefundObject =
    "json_build_object('id', f.id, 'payment_id', f.payment_id, 'gateway_payment_id', f.gateway_payment_id, "
    "'gateway_refund_id', f.gateway_refund_id, 'amount', oms_money_json(f.amount, f.currency), "
    "'currency', f.currency, 'status', f.status, 'reason', f.reason, 'failure_reason', f.failure_reason, "
    "'automatic', f.automatic, "
    "'created_at', oms_time_json(f.created_at), 'processed_at', oms_time_json(f.processed_at))";

// Payments (alias p) with their attempts and refunds, one JSON text per row
// (column `payment`), in one statement however many attempts and refunds
// there are; a WHERE clause on p follows. The attempt a payment is "about"
// (its gateway_payment_id and method): the one that paid the order, else the
// latest capture, else the latest attempt. Its error: the latest failed
// attempt's, while the payment is failed.
std::string payment_select() {
    return std::string(
               "SELECT json_build_object("
               "'id', p.id, 'order_id', p.order_id, 'customer_id', p.customer_id, 'status', p.status, "
               "'amount', oms_money_json(p.amount, p.currency), 'currency', p.currency, 'gateway', p.gateway, "
               "'gateway_order_id', p.gateway_order_id, "
               "'gateway_payment_id', shown.gateway_payment_id, 'method', shown.method, "
               "'amount_captured', oms_money_json(p.amount_captured, p.currency), "
               "'amount_refunded', oms_money_json(p.amount_refunded, p.currency), "
               "'refund_status', CASE WHEN p.amount_refunded <= 0 THEN NULL "
               "  WHEN p.amount_refunded < p.amount_captured THEN 'partial' ELSE 'full' END, "
               "'simulated', p.simulated, "
               "'error', CASE WHEN p.status = 'failed' THEN ("
               "  SELECT json_build_object('code', a.error_code, 'description', a.error_description, "
               "                           'reason', a.error_reason) "
               "  FROM payment_attempts a WHERE a.payment_id = p.id AND a.status = 'failed' "
               "  ORDER BY a.created_at DESC, a.gateway_payment_id DESC LIMIT 1) END, "
               "'attempts', (SELECT coalesce(json_agg(json_build_object("
               "    'gateway_payment_id', a.gateway_payment_id, 'status', a.status, "
               "    'amount', oms_money_json(a.amount, p.currency), 'method', a.method, 'accepted', a.accepted, "
               "    'outcome', a.outcome, 'error_code', a.error_code, 'error_description', a.error_description, "
               "    'created_at', oms_time_json(a.created_at), 'captured_at', oms_time_json(a.captured_at)) "
               "  ORDER BY a.created_at, a.gateway_payment_id), '[]') "
               "  FROM payment_attempts a WHERE a.payment_id = p.id), "
               "'refunds', (SELECT coalesce(json_agg(") +
           kRefundObject +
           " ORDER BY f.created_at, f.id), '[]') FROM payment_refunds f WHERE f.payment_id = p.id), "
           "'created_at', oms_time_json(p.created_at), 'updated_at', oms_time_json(p.updated_at))::text AS payment "
           "FROM payments p LEFT JOIN LATERAL ("
           "  SELECT a.gateway_payment_id, a.method FROM payment_attempts a WHERE a.payment_id = p.id "
           "  ORDER BY CASE WHEN a.accepted THEN 2 WHEN a.status = 'captured' THEN 1 ELSE 0 END DESC, "
           "           a.created_at DESC, a.gateway_payment_id DESC LIMIT 1) AS shown ON true "
           "WHERE ";
}

}  // namespace

oms::json refund_json(oms::Tx& tx, const std::string& refund_id) {
    auto row = tx.query(std::string("SELECT ") + kRefundObject + " AS refund FROM payment_refunds f WHERE f.id = $1::uuid",
                        refund_id)
                   .at(0);
    return row.get<oms::json>("refund");
}

oms::json payment_json(oms::Tx& tx, const std::string& payment_id) {
    return tx.query(payment_select() + "p.id = $1::uuid", payment_id).at(0).get<oms::json>("payment");
}

std::string payments_text_of_order(oms::Tx& tx, const std::string& order_id) {
    std::string out = "[";
    if (looks_like_uuid(order_id))
        for (const auto& row : tx.query(payment_select() + "p.order_id = $1::uuid ORDER BY p.created_at, p.id", order_id)) {
            if (out.size() > 1) out += ',';
            out += row.text("payment");
        }
    return out + "]";
}

}  // namespace payments
