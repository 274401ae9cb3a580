// The payments routes' OpenAPI schemas (GET /openapi.json), beside payment_json.cpp,
// which writes the same shapes.
#pragma once

#include <oms/plugin.hpp>

namespace payments::schemas {

namespace s = oms::schema;

inline oms::json nullable_text() { return s::nullable(s::text()); }

inline oms::json refund() {
    return s::object({{"id", s::uuid()},
                      {"payment_id", s::uuid()},
                      {"gateway_payment_id", s::text()},
                      {"gateway_refund_id", nullable_text()},
                      {"amount", s::money()},
                      {"currency", s::text(3, 3)},
                      {"status", {{"type", "string"},
                                  {"enum", {"requested", "pending", "processed", "failed"}},
                                  {"description", "requested: recorded, not yet made at the gateway (it is made "
                                                  "after the asking transaction commits, retried until Razorpay "
                                                  "answers); pending: made, not yet settled; failed: refused by "
                                                  "Razorpay (failure_reason) or failed later"}}},
                      {"reason", nullable_text()},
                      {"failure_reason", nullable_text()},
                      {"automatic", {{"type", "boolean"}, {"description", "Made by OMS for a capture it could not accept"}}},
                      {"created_at", s::date_time()},
                      {"processed_at", s::nullable(s::date_time())}},
                     {"id", "payment_id", "gateway_payment_id", "amount", "currency", "status", "automatic",
                      "created_at"});
}

inline oms::json attempt() {
    return s::object({{"gateway_payment_id", s::text()},
                      {"status", s::one_of({"created", "authorized", "failed", "captured"})},
                      {"amount", s::money()},
                      {"method", nullable_text()},
                      {"accepted", {{"type", "boolean"}, {"description", "This capture paid the order"}}},
                      {"outcome", nullable_text()},
                      {"error_code", nullable_text()},
                      {"error_description", nullable_text()},
                      {"created_at", s::date_time()},
                      {"captured_at", s::nullable(s::date_time())}},
                     {"gateway_payment_id", "status", "amount", "accepted", "created_at"});
}

// As GET /payments/:id shows it; `checkout` adds the key_id POST /payments returns.
inline oms::json payment(bool checkout = false) {
    oms::json p = s::object(
        {{"id", s::uuid()},
         {"order_id", s::uuid()},
         {"customer_id", s::uuid()},
         {"status", s::one_of({"created", "authorized", "failed", "captured", "refunded"})},
         {"amount", s::money()},
         {"currency", s::text(3, 3)},
         {"gateway", s::one_of({"razorpay"})},
         {"gateway_order_id", {{"type", "string"}, {"description", "Razorpay's order id (order_...) for the checkout"}}},
         {"gateway_payment_id", nullable_text()},
         {"method", nullable_text()},
         {"amount_captured", s::money()},
         {"amount_refunded", s::money()},
         {"refund_status", s::nullable(s::one_of({"partial", "full"}))},
         {"simulated", {{"type", "boolean"}, {"description", "Made by the simulated gateway: no money moved"}}},
         {"error", s::nullable(s::object({{"code", nullable_text()},
                                          {"description", nullable_text()},
                                          {"reason", nullable_text()}}))},
         {"attempts", s::array(attempt())},
         {"refunds", s::array(refund())},
         {"created_at", s::date_time()},
         {"updated_at", s::date_time()}},
        {"id", "order_id", "status", "amount", "currency", "gateway", "gateway_order_id", "attempts", "refunds"});
    if (checkout) {
        p["properties"]["key_id"] = {{"type", "string"}, {"description", "The public key id Razorpay's checkout needs"}};
        p["required"].push_back("key_id");
    }
    return p;
}

inline oms::json new_payment() { return s::object({{"order_id", s::uuid()}}, {"order_id"}); }

inline oms::json verification() {
    return s::object({{"razorpay_order_id", s::text(1, 64)},
                      {"razorpay_payment_id", s::text(1, 64)},
                      {"razorpay_signature",
                       {{"type", "string"}, {"minLength", 1}, {"maxLength", 128},
                        {"description", "hex HMAC-SHA256 of order_id|payment_id with the key secret"}}}},
                     {"razorpay_order_id", "razorpay_payment_id", "razorpay_signature"});
}

// Razorpay's event envelope, as much of it as OMS reads.
inline oms::json webhook_event() {
    return s::object({{"entity", s::one_of({"event"})},
                      {"event", {{"type", "string"}, {"description", "payment.authorized, payment.captured, "
                                                                     "payment.failed, order.paid, refund.* (others are acknowledged)"}}},
                      {"payload", {{"type", "object"}}},
                      {"created_at", s::integer()}},
                     {"event"});
}

inline oms::json webhook_result() {
    return s::object({{"status", s::one_of({"processed", "duplicate"})},
                      {"event", s::text()},
                      {"event_id", s::text()},
                      {"result", s::text()}},
                     {"status", "event", "event_id"});
}

inline oms::json refund_request() {
    return s::object({{"amount", {{"type", "number"}, {"exclusiveMinimum", 0},
                                  {"description", "In major units; omitted: everything left to refund"}}},
                      {"reason", s::text(0, 500)}});
}

inline oms::json simulation() {
    return s::object({{"outcome", s::one_of({"captured", "failed", "authorized"})}}, {"outcome"});
}

// ---- contracts: the events and services other plugins use (`oms-host contracts`) ----

inline oms::json captured_event() {
    return s::object({{"order_id", s::uuid()},
                      {"payment_id", s::uuid()},
                      {"gateway_payment_id", {{"type", "string"}, {"description", "Razorpay's pay_... id"}}},
                      {"amount", s::minor_units()},
                      {"currency", s::text(3, 3)}},
                     {"order_id", "payment_id", "gateway_payment_id", "amount", "currency"});
}

inline oms::json refunded_event() {
    return s::object({{"order_id", s::uuid()},
                      {"payment_id", s::uuid()},
                      {"gateway_payment_id", s::text()},
                      {"refund_id", s::uuid()},
                      {"amount", s::minor_units("This refund, in minor units of `currency`")},
                      {"refunded_total", s::minor_units("Everything refunded of this capture so far, in minor units")},
                      {"currency", s::text(3, 3)},
                      {"full", {{"type", "boolean"}, {"description", "The capture is now refunded in full"}}}},
                     {"order_id", "payment_id", "gateway_payment_id", "refund_id", "amount", "refunded_total",
                      "currency", "full"});
}

inline oms::json refund_order_args() {
    return s::object({{"order_id", s::uuid()}, {"reason", s::nullable(s::text())}}, {"order_id"});
}

// These two answer the HTTP API's representations (money in major units, as marked).
inline oms::json payments_of_order() {
    oms::json r = s::object({{"payments", s::array(payment())}}, {"payments"});
    r["description"] = "The order's payments as GET /payments/:id shows them (major units)";
    return r;
}

inline oms::json refunds_made() {
    oms::json r = s::object({{"refunds", s::array(refund())}}, {"refunds"});
    r["description"] = "The refunds asked for, as GET /payments/:id shows them (major units)";
    return r;
}

}  // namespace payments::schemas
