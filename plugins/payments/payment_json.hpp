// Payments and refunds as the API shows them: amounts in major units
// (oms/money.hpp), times RFC 3339 UTC.
//
//   {id, order_id, customer_id, status, amount, currency, gateway: "razorpay",
//    gateway_order_id, gateway_payment_id, method, amount_captured,
//    amount_refunded, refund_status: null|"partial"|"full", simulated,
//    error: null|{code, description, reason},
//    attempts: [{gateway_payment_id, status, amount, method, accepted, outcome, error_code,
//                error_description, created_at, captured_at}],
//    refunds: [refund...], created_at, updated_at}
//   refund: {id, payment_id, gateway_payment_id, gateway_refund_id, amount, currency,
//            status, reason, automatic, created_at, processed_at}
#pragma once

#include <oms/plugin.hpp>

#include <string>

#include "payment_store.hpp"

namespace payments {

// PostgreSQL builds them (payment_json.cpp); these read its JSON.
oms::json payment_json(oms::Tx& tx, const std::string& payment_id);
oms::json refund_json(oms::Tx& tx, const std::string& refund_id);
// Every payment of the order, oldest first (one statement), as JSON text:
// an array passed on without being parsed.
std::string payments_text_of_order(oms::Tx& tx, const std::string& order_id);

}  // namespace payments
