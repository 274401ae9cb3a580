// The payments tables (migrations/0001_payments.sql): rows as structs, the
// lookups the routes and webhooks make (each one an index lookup), and the
// one UPDATE that keeps a payment's amounts and status in step with its
// attempts and refunds.
//
// Lock order, shared with the orders and inventory plugins: a payment row
// (FOR UPDATE) first, then whatever events and services lock (inventory's
// reservations, then the order). Every path that changes a payment locks its
// row before reading its attempts and refunds.
#pragma once

#include <oms/plugin.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace payments {

struct PaymentRow {
    std::string id, order_id, customer_id, status, currency, gateway_order_id;
    int64_t amount = 0, amount_captured = 0, amount_refunded = 0, amount_refund_processed = 0;
    bool simulated = false;
};

struct AttemptRow {
    std::string gateway_payment_id, payment_id, status, currency;
    int64_t amount = 0, amount_refunded = 0;
    bool accepted = false;
    int64_t refundable() const { return status == "captured" ? amount - amount_refunded : 0; }
};

bool looks_like_uuid(std::string_view s);

enum class Lock { none, for_update };

std::optional<PaymentRow> find_payment(oms::Tx& tx, const std::string& id, Lock lock);
std::optional<PaymentRow> find_payment_by_gateway_order(oms::Tx& tx, const std::string& gateway_order_id, Lock lock);
// The order's payment that can still be paid (created, authorized or failed), if any.
std::optional<PaymentRow> find_open_payment(oms::Tx& tx, const std::string& order_id);
// Oldest first.
std::vector<PaymentRow> payments_of_order(oms::Tx& tx, const std::string& order_id, Lock lock);

PaymentRow insert_payment(oms::Tx& tx, const std::string& order_id, const std::string& customer_id, int64_t amount,
                          const std::string& currency, const std::string& gateway_order_id, bool simulated);

std::optional<AttemptRow> find_attempt(oms::Tx& tx, const std::string& gateway_payment_id);
// Oldest first.
std::vector<AttemptRow> attempts_of(oms::Tx& tx, const std::string& payment_id);

// Re-aggregates the payment from its attempts and refunds: amount_captured,
// amount_refunded (pending + processed), amount_refund_processed, each
// attempt's amount_refunded, and the status
//   refunded   everything captured has been refunded (processed)
//   captured   some attempt captured
//   authorized / failed / created   the furthest any attempt got
// Attempts only move forward and refunds only add, so the status does too.
void refresh_payment(oms::Tx& tx, const std::string& payment_id);

// Serialises concurrent POST /payments for one order (until the transaction ends).
void lock_order_payments(oms::Tx& tx, const std::string& order_id);

}  // namespace payments
