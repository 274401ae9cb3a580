#include "payment_json.hpp"

#include <oms/money.hpp>

namespace payments {
namespace {

// A refund as one JSON object, built by PostgreSQL (alias f).
constexpr const char* kRefundObject =
    "json_build_object('id', f.id, 'payment_id', f.payment_id, 'gateway_payment_id', f.gateway_payment_id, "
    "'gateway_refund_id', f.gateway_refund_id, 'amount', f.amount, 'currency', f.currency, 'status', f.status, "
    "'reason', f.reason, 'automatic', f.automatic, 'created_at', f.created_at, 'processed_at', f.processed_at)";

// Payments with their attempts and refunds in one statement (one round trip
// however many attempts and refunds there are); a WHERE clause on p follows.
std::string payment_select() {
    return std::string(
               "SELECT p.id, p.order_id, p.customer_id, p.status, p.amount, p.currency, p.gateway, "
               "p.gateway_order_id, p.simulated, p.amount_captured, p.amount_refunded, p.created_at, p.updated_at, "
               "(SELECT coalesce(json_agg(json_build_object("
               "    'gateway_payment_id', a.gateway_payment_id, 'status', a.status, 'amount', a.amount, "
               "    'method', a.method, 'accepted', a.accepted, 'outcome', a.outcome, 'error_code', a.error_code, "
               "    'error_description', a.error_description, 'error_reason', a.error_reason, "
               "    'created_at', a.created_at, 'captured_at', a.captured_at) "
               "  ORDER BY a.created_at, a.gateway_payment_id), '[]') "
               " FROM payment_attempts a WHERE a.payment_id = p.id) AS attempts, "
               "(SELECT coalesce(json_agg(") +
           kRefundObject +
           " ORDER BY f.created_at, f.id), '[]') FROM payment_refunds f WHERE f.payment_id = p.id) AS refunds "
           "FROM payments p WHERE ";
}

// PostgreSQL's JSON form of a timestamptz ("...+00:00"; sessions run in UTC) → RFC 3339 "...Z".
oms::json json_time(const oms::json& t) {
    if (!t.is_string()) return nullptr;
    std::string s = t.get<std::string>();
    if (s.size() > 6 && s.compare(s.size() - 6, 6, "+00:00") == 0) s.replace(s.size() - 6, 6, "Z");
    return s;
}

oms::json refund_from(const oms::json& f) {
    std::string currency = f.at("currency").get<std::string>();
    return {{"id", f.at("id")},
            {"payment_id", f.at("payment_id")},
            {"gateway_payment_id", f.at("gateway_payment_id")},
            {"gateway_refund_id", f.at("gateway_refund_id")},
            {"amount", oms::money::to_json(f.at("amount").get<int64_t>(), currency)},
            {"currency", currency},
            {"status", f.at("status")},
            {"reason", f.at("reason")},
            {"automatic", f.at("automatic")},
            {"created_at", json_time(f.at("created_at"))},
            {"processed_at", json_time(f.at("processed_at"))}};
}

oms::json payment_from(const oms::Row& p) {
    std::string currency = p.get<std::string>("currency");
    auto money = [&](int64_t minor) { return oms::money::to_json(minor, currency); };

    oms::json attempts = oms::json::array();
    oms::json shown_id = nullptr, shown_method = nullptr, error = nullptr;
    int shown_rank = -1;
    for (const auto& a : p.get<oms::json>("attempts")) {
        std::string status = a.at("status").get<std::string>();
        // The attempt the payment is "about": the one that paid the order, else
        // the latest capture, else the latest attempt.
        int rank = a.at("accepted").get<bool>() ? 2 : status == "captured" ? 1 : 0;
        if (rank >= shown_rank) {
            shown_rank = rank;
            shown_id = a.at("gateway_payment_id");
            shown_method = a.at("method");
        }
        if (status == "failed")
            error = {{"code", a.at("error_code")},
                     {"description", a.at("error_description")},
                     {"reason", a.at("error_reason")}};
        attempts.push_back({{"gateway_payment_id", a.at("gateway_payment_id")},
                            {"status", status},
                            {"amount", money(a.at("amount").get<int64_t>())},
                            {"method", a.at("method")},
                            {"accepted", a.at("accepted")},
                            {"outcome", a.at("outcome")},
                            {"error_code", a.at("error_code")},
                            {"error_description", a.at("error_description")},
                            {"created_at", json_time(a.at("created_at"))},
                            {"captured_at", json_time(a.at("captured_at"))}});
    }

    oms::json refunds = oms::json::array();
    for (const auto& f : p.get<oms::json>("refunds")) refunds.push_back(refund_from(f));

    std::string status = p.get<std::string>("status");
    int64_t captured = p.get<int64_t>("amount_captured"), refunded = p.get<int64_t>("amount_refunded");
    oms::json refund_status = nullptr;
    if (refunded > 0) refund_status = refunded < captured ? "partial" : "full";
    return {{"id", p.get<std::string>("id")},
            {"order_id", p.get<std::string>("order_id")},
            {"customer_id", p.get<std::string>("customer_id")},
            {"status", status},
            {"amount", money(p.get<int64_t>("amount"))},
            {"currency", currency},
            {"gateway", p.get<std::string>("gateway")},
            {"gateway_order_id", p.get<std::string>("gateway_order_id")},
            {"gateway_payment_id", shown_id},
            {"method", shown_method},
            {"amount_captured", money(captured)},
            {"amount_refunded", money(refunded)},
            {"refund_status", refund_status},
            {"simulated", p.get<bool>("simulated")},
            {"error", status == "failed" ? error : oms::json(nullptr)},
            {"attempts", std::move(attempts)},
            {"refunds", std::move(refunds)},
            {"created_at", p.time("created_at")},
            {"updated_at", p.time("updated_at")}};
}

}  // namespace

oms::json refund_json(oms::Tx& tx, const std::string& refund_id) {
    auto row = tx.query(std::string("SELECT ") + kRefundObject + " AS refund FROM payment_refunds f WHERE f.id = $1::uuid",
                        refund_id)
                   .at(0);
    return refund_from(row.get<oms::json>("refund"));
}

oms::json payment_json(oms::Tx& tx, const std::string& payment_id) {
    return payment_from(tx.query(payment_select() + "p.id = $1::uuid", payment_id).at(0));
}

oms::json payments_json_of_order(oms::Tx& tx, const std::string& order_id) {
    oms::json out = oms::json::array();
    if (!looks_like_uuid(order_id)) return out;
    for (const auto& row : tx.query(payment_select() + "p.order_id = $1::uuid ORDER BY p.created_at, p.id", order_id))
        out.push_back(payment_from(row));
    return out;
}

}  // namespace payments
