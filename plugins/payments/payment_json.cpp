#include "payment_json.hpp"

#include <oms/money.hpp>

namespace payments {
namespace {

constexpr const char* kRefundColumns =
    "id, payment_id, gateway_payment_id, gateway_refund_id, amount, currency, status, reason, automatic, "
    "created_at, processed_at";

oms::json nullable(const oms::Row& r, const char* column) {
    if (r.is_null(column)) return nullptr;
    return r.get<std::string>(column);
}

oms::json refund_from(const oms::Row& r) {
    std::string currency = r.get<std::string>("currency");
    return {{"id", r.get<std::string>("id")},
            {"payment_id", r.get<std::string>("payment_id")},
            {"gateway_payment_id", r.get<std::string>("gateway_payment_id")},
            {"gateway_refund_id", nullable(r, "gateway_refund_id")},
            {"amount", oms::money::to_json(r.get<int64_t>("amount"), currency)},
            {"currency", currency},
            {"status", r.get<std::string>("status")},
            {"reason", nullable(r, "reason")},
            {"automatic", r.get<bool>("automatic")},
            {"created_at", r.time("created_at")},
            {"processed_at", r.time("processed_at")}};
}

}  // namespace

oms::json refund_json(oms::Tx& tx, const std::string& refund_id) {
    auto row = tx.query(std::string("SELECT ") + kRefundColumns + " FROM payment_refunds WHERE id = $1::uuid",
                        refund_id)
                   .at(0);
    return refund_from(row);
}

oms::json payment_json(oms::Tx& tx, const std::string& payment_id) {
    auto p = tx.query("SELECT id, order_id, customer_id, status, amount, currency, gateway, gateway_order_id, "
                      "simulated, amount_captured, amount_refunded, created_at, updated_at "
                      "FROM payments WHERE id = $1::uuid",
                      payment_id)
                 .at(0);
    std::string currency = p.get<std::string>("currency");
    auto money = [&](int64_t minor) { return oms::money::to_json(minor, currency); };

    oms::json attempts = oms::json::array();
    oms::json shown_id = nullptr, shown_method = nullptr, error = nullptr;
    int shown_rank = -1;
    for (auto a : tx.query("SELECT gateway_payment_id, status, amount, method, accepted, outcome, error_code, "
                           "error_description, error_reason, created_at, captured_at "
                           "FROM payment_attempts WHERE payment_id = $1::uuid ORDER BY created_at, gateway_payment_id",
                           payment_id)) {
        std::string status = a.get<std::string>("status");
        // The attempt the payment is "about": the one that paid the order, else
        // the latest capture, else the latest attempt.
        int rank = a.get<bool>("accepted") ? 2 : status == "captured" ? 1 : 0;
        if (rank >= shown_rank) {
            shown_rank = rank;
            shown_id = a.get<std::string>("gateway_payment_id");
            shown_method = nullable(a, "method");
        }
        if (status == "failed")
            error = {{"code", nullable(a, "error_code")},
                     {"description", nullable(a, "error_description")},
                     {"reason", nullable(a, "error_reason")}};
        attempts.push_back({{"gateway_payment_id", a.get<std::string>("gateway_payment_id")},
                            {"status", status},
                            {"amount", money(a.get<int64_t>("amount"))},
                            {"method", nullable(a, "method")},
                            {"accepted", a.get<bool>("accepted")},
                            {"outcome", nullable(a, "outcome")},
                            {"error_code", nullable(a, "error_code")},
                            {"error_description", nullable(a, "error_description")},
                            {"created_at", a.time("created_at")},
                            {"captured_at", a.time("captured_at")}});
    }

    oms::json refunds = oms::json::array();
    for (auto r : tx.query(std::string("SELECT ") + kRefundColumns +
                               " FROM payment_refunds WHERE payment_id = $1::uuid ORDER BY created_at, id",
                           payment_id))
        refunds.push_back(refund_from(r));

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

}  // namespace payments
