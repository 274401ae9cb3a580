#include "payment_store.hpp"

#include <cctype>

namespace payments {
namespace {

constexpr const char* kPaymentColumns =
    "id, order_id, customer_id, status, amount, currency, gateway_order_id, simulated, amount_captured, "
    "amount_refunded, amount_refund_processed";

PaymentRow payment_from(const oms::Row& r) {
    PaymentRow p;
    p.id = r.get<std::string>("id");
    p.order_id = r.get<std::string>("order_id");
    p.customer_id = r.get<std::string>("customer_id");
    p.status = r.get<std::string>("status");
    p.amount = r.get<int64_t>("amount");
    p.currency = r.get<std::string>("currency");
    p.gateway_order_id = r.get<std::string>("gateway_order_id");
    p.simulated = r.get<bool>("simulated");
    p.amount_captured = r.get<int64_t>("amount_captured");
    p.amount_refunded = r.get<int64_t>("amount_refunded");
    p.amount_refund_processed = r.get<int64_t>("amount_refund_processed");
    return p;
}

constexpr const char* kAttemptColumns =
    "gateway_payment_id, payment_id, status, amount, currency, accepted, amount_refunded";

AttemptRow attempt_from(const oms::Row& r) {
    AttemptRow a;
    a.gateway_payment_id = r.get<std::string>("gateway_payment_id");
    a.payment_id = r.get<std::string>("payment_id");
    a.status = r.get<std::string>("status");
    a.amount = r.get<int64_t>("amount");
    a.currency = r.get<std::string>("currency");
    a.accepted = r.get<bool>("accepted");
    a.amount_refunded = r.get<int64_t>("amount_refunded");
    return a;
}

std::string select_payments(const char* where, Lock lock) {
    return std::string("SELECT ") + kPaymentColumns + " FROM payments WHERE " + where +
           (lock == Lock::for_update ? " FOR UPDATE" : "");
}

}  // namespace

bool looks_like_uuid(std::string_view s) {
    if (s.size() != 36) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash != (s[i] == '-')) return false;
        if (!dash && !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
    }
    return true;
}

std::optional<PaymentRow> find_payment(oms::Tx& tx, const std::string& id, Lock lock) {
    if (!looks_like_uuid(id)) return std::nullopt;
    auto row = tx.query(select_payments("id = $1::uuid", lock), id).first();
    if (!row) return std::nullopt;
    return payment_from(*row);
}

std::optional<PaymentRow> find_payment_by_gateway_order(oms::Tx& tx, const std::string& gateway_order_id, Lock lock) {
    auto row = tx.query(select_payments("gateway_order_id = $1", lock), gateway_order_id).first();
    if (!row) return std::nullopt;
    return payment_from(*row);
}

std::optional<PaymentRow> find_open_payment(oms::Tx& tx, const std::string& order_id) {
    // Matches payments_one_open_per_order's predicate, so it is that index's lookup.
    auto row = tx.query(select_payments("order_id = $1::uuid AND status IN ('created', 'authorized', 'failed')",
                                        Lock::for_update),
                        order_id)
                   .first();
    if (!row) return std::nullopt;
    return payment_from(*row);
}

std::vector<PaymentRow> payments_of_order(oms::Tx& tx, const std::string& order_id, Lock lock) {
    std::vector<PaymentRow> out;
    if (!looks_like_uuid(order_id)) return out;
    std::string sql = std::string("SELECT ") + kPaymentColumns +
                      " FROM payments WHERE order_id = $1::uuid ORDER BY created_at, id" +
                      (lock == Lock::for_update ? " FOR UPDATE" : "");
    for (auto row : tx.query(sql, order_id)) out.push_back(payment_from(row));
    return out;
}

PaymentRow insert_payment(oms::Tx& tx, const std::string& order_id, const std::string& customer_id, int64_t amount,
                          const std::string& currency, const std::string& gateway_order_id, bool simulated) {
    auto row = tx.query(std::string("INSERT INTO payments (order_id, customer_id, amount, currency, gateway_order_id, "
                                    "simulated) VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6) RETURNING ") +
                            kPaymentColumns,
                        order_id, customer_id, amount, currency, gateway_order_id, simulated)
                   .at(0);
    return payment_from(row);
}

std::optional<AttemptRow> find_attempt(oms::Tx& tx, const std::string& gateway_payment_id) {
    auto row = tx.query(std::string("SELECT ") + kAttemptColumns +
                            " FROM payment_attempts WHERE gateway_payment_id = $1",
                        gateway_payment_id)
                   .first();
    if (!row) return std::nullopt;
    return attempt_from(*row);
}

std::vector<AttemptRow> attempts_of(oms::Tx& tx, const std::string& payment_id) {
    std::vector<AttemptRow> out;
    for (auto row : tx.query(std::string("SELECT ") + kAttemptColumns +
                                 " FROM payment_attempts WHERE payment_id = $1::uuid ORDER BY created_at, "
                                 "gateway_payment_id",
                             payment_id))
        out.push_back(attempt_from(row));
    return out;
}

void refresh_payment(oms::Tx& tx, const std::string& payment_id) {
    tx.exec("UPDATE payment_attempts a SET amount_refunded = r.refunded, updated_at = now() "
            "FROM (SELECT a2.gateway_payment_id, coalesce(sum(f.amount) FILTER (WHERE f.status <> 'failed'), 0) "
            "        AS refunded "
            "      FROM payment_attempts a2 LEFT JOIN payment_refunds f USING (gateway_payment_id) "
            "      WHERE a2.payment_id = $1::uuid GROUP BY a2.gateway_payment_id) r "
            "WHERE a.gateway_payment_id = r.gateway_payment_id AND a.amount_refunded <> r.refunded",
            payment_id);
    tx.exec("UPDATE payments p SET amount_captured = a.captured, amount_refunded = r.refunded, "
            "  amount_refund_processed = r.processed, "
            "  status = CASE WHEN a.captured > 0 AND r.processed = a.captured THEN 'refunded' "
            "                WHEN a.captured > 0 THEN 'captured' "
            "                WHEN a.furthest = 2 THEN 'authorized' "
            "                WHEN a.furthest = 1 THEN 'failed' ELSE 'created' END, "
            "  updated_at = now() "
            "FROM (SELECT coalesce(sum(amount) FILTER (WHERE status = 'captured'), 0) AS captured, "
            "             coalesce(max(CASE status WHEN 'authorized' THEN 2 WHEN 'failed' THEN 1 ELSE 0 END), 0) "
            "               AS furthest "
            "      FROM payment_attempts WHERE payment_id = $1::uuid) a, "
            "     (SELECT coalesce(sum(amount) FILTER (WHERE status <> 'failed'), 0) AS refunded, "
            "             coalesce(sum(amount) FILTER (WHERE status = 'processed'), 0) AS processed "
            "      FROM payment_refunds WHERE payment_id = $1::uuid) r "
            "WHERE p.id = $1::uuid",
            payment_id);
}

void lock_order_payments(oms::Tx& tx, const std::string& order_id) {
    // Two-key advisory locks are their own key space; 0x70617973 is "pays".
    tx.exec("SELECT pg_advisory_xact_lock(1885436275, hashtext($1))", order_id);
}

}  // namespace payments
