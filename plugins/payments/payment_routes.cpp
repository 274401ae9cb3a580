#include "payment_routes.hpp"

#include <oms/money.hpp>

#include <chrono>

#include "capture.hpp"
#include "gateway.hpp"
#include "payment_json.hpp"
#include "payment_store.hpp"
#include "refunds.hpp"
#include "settings.hpp"
#include "signature.hpp"
#include "webhook.hpp"

namespace payments {
namespace {

oms::Error no_such_payment() { return oms::not_found("No such payment."); }

bool may_see(const oms::Caller& caller, const PaymentRow& p) {
    return caller.is_admin() || p.customer_id == caller.user_id;
}

// The :id payment, if the caller may see it (else 404, existence not leaked).
PaymentRow visible_payment(oms::Request& req, const oms::Caller& caller, Lock lock) {
    auto p = find_payment(req.tx(), req.param("id"), lock);
    if (!p || !may_see(caller, *p)) throw no_such_payment();
    return *p;
}

// A required string field of at most `max` characters, else a validation error.
std::string required_string(const oms::json& body, const char* field, size_t max,
                            std::vector<oms::FieldError>& errors) {
    auto it = body.find(field);
    if (it == body.end() || it->is_null()) errors.push_back({field, "is required"});
    else if (!it->is_string() || it->get<std::string>().empty()) errors.push_back({field, "must be a non-empty string"});
    else if (it->get<std::string>().size() > max)
        errors.push_back({field, "must be at most " + std::to_string(max) + " characters"});
    else return it->get<std::string>();
    return {};
}

oms::json checkout_json(oms::Tx& tx, const std::string& payment_id) {
    oms::json out = payment_json(tx, payment_id);
    out["key_id"] = gateway().key_id();
    return out;
}

int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

oms::Response create_payment_route(oms::Request& req) {
    auto caller = req.require_caller();
    const auto& body = req.json_body();
    if (!body.is_object()) throw oms::validation_failed({{"order_id", "is required"}});
    std::vector<oms::FieldError> errors;
    std::string order_id = required_string(body, "order_id", 36, errors);
    if (errors.empty() && !looks_like_uuid(order_id)) errors.push_back({"order_id", "must be a UUID"});
    if (!errors.empty()) throw oms::validation_failed(std::move(errors));

    auto& tx = req.tx();
    lock_order_payments(tx, order_id);  // two concurrent POSTs make one payment
    oms::json order = order_of(tx, order_id);
    if (order.value("customer_id", "") != caller.user_id) {
        if (caller.is_admin()) throw oms::forbidden("Only the order's customer can pay for it.");
        throw oms::not_found("No such order.");
    }
    std::string status = order.value("status", "");
    if (status != "pending")
        throw oms::conflict("order_not_payable", "The order is " + status + "; only a pending order can be paid.");
    if (auto open = find_open_payment(tx, order_id)) return oms::Response::json(checkout_json(tx, open->id));

    int64_t amount = order.at("total_amount").get<int64_t>();
    std::string currency = order.at("currency").get<std::string>();
    if (amount <= 0) throw oms::conflict("nothing_to_pay", "The order's total is zero.");
    // Razorpay takes three-decimal currencies (KWD, BHD, OMR) only in whole
    // multiples of 10 minor units: say so now rather than fail at the gateway.
    if (oms::money::minor_digits(currency) == 3 && amount % 10 != 0)
        throw oms::bad_request("amount_not_supported",
                               "Razorpay accepts " + currency + " amounts only to two decimal places; this order's total is " +
                                   oms::money::to_json(amount, currency).dump() + " " + currency + ".");

    // Inside the request's transaction: if the gateway fails, nothing is
    // written; if we fail after it answered, an unused Razorpay order is left
    // (harmless: it holds no money and expires unpaid).
    oms::json rzp_order = gateway().create_order(amount, currency, order_id, {{"oms_order_id", order_id}});
    std::string gateway_order_id = rzp_order.value("id", "");
    if (gateway_order_id.empty() || rzp_order.value("amount", int64_t{-1}) != amount)
        throw GatewayError(200, "", "the order it created has no id or another amount");
    auto row = insert_payment(tx, order_id, caller.user_id, amount, currency, gateway_order_id,
                              gateway().simulated());
    return oms::Response::json(checkout_json(tx, row.id), 201).header("Location", "/payments/" + row.id);
}

oms::Response verify_payment_route(oms::Request& req) {
    auto caller = req.require_caller();
    const auto& body = req.json_body();
    if (!body.is_object()) throw oms::validation_failed({{"razorpay_order_id", "is required"}});
    std::vector<oms::FieldError> errors;
    std::string order_id = required_string(body, "razorpay_order_id", 64, errors);
    std::string payment_id = required_string(body, "razorpay_payment_id", 64, errors);
    std::string signature = required_string(body, "razorpay_signature", 128, errors);
    if (!errors.empty()) throw oms::validation_failed(std::move(errors));
    if (gateway().simulated())
        throw oms::conflict("simulated_gateway",
                            "The simulated gateway has no checkout to verify; use POST /payments/:id/simulate.");

    auto invalid = [] { return oms::bad_request("invalid_signature", "razorpay_signature does not match."); };
    auto& tx = req.tx();
    auto payment = find_payment_by_gateway_order(tx, order_id, Lock::none);
    // The signature is computed over OUR stored gateway order id, so an
    // unknown one can never verify.
    if (!payment || !checkout_signature_valid(settings().key_secret, payment->gateway_order_id, payment_id, signature))
        throw invalid();
    if (!may_see(caller, *payment)) throw no_such_payment();
    payment = find_payment(tx, payment->id, Lock::for_update);

    oms::json entity = gateway().fetch_payment(payment_id);
    if (entity.value("order_id", "") != payment->gateway_order_id)
        throw oms::bad_request("payment_order_mismatch", "That payment belongs to another gateway order.");
    // Capture here only what can pay the order: an authorization we leave
    // alone is released by Razorpay (auto-refund after 3 days), which beats
    // capturing and refunding.
    if (entity.value("status", "") == "authorized") {
        oms::json order = order_of(tx, payment->order_id);
        bool payable = order.value("status", "") == "pending" &&
                       entity.value("amount", int64_t{-1}) == order.value("total_amount", int64_t{-2}) &&
                       entity.value("currency", "") == order.value("currency", "");
        if (payable) {
            try {
                entity = gateway().capture_payment(payment_id, entity.at("amount").get<int64_t>(),
                                                   entity.value("currency", payment->currency));
            } catch (const GatewayError& e) {
                // Captured meanwhile (auto-capture, or another verify): read it again.
                if (e.http_status() != 400) throw;
                entity = gateway().fetch_payment(payment_id);
            }
        }
    }
    apply_payment_entity(tx, entity);
    return oms::Response::json(payment_json(tx, payment->id));
}

oms::Response get_payment_route(oms::Request& req) {
    auto caller = req.require_caller();
    auto p = visible_payment(req, caller, Lock::none);
    return oms::Response::json(payment_json(req.tx(), p.id));
}

oms::Response refund_payment_route(oms::Request& req) {
    auto caller = req.require_caller();
    const auto& body = req.json_body();
    if (!body.is_object()) throw oms::validation_failed({{"amount", "the body must be an object"}});
    auto& tx = req.tx();
    auto payment = visible_payment(req, caller, Lock::for_update);

    // The capture the payment is about: the one that paid the order, else the
    // latest one with money left (a duplicate capture is refunded on its own).
    std::optional<AttemptRow> attempt;
    for (const auto& a : attempts_of(tx, payment.id))
        if (a.refundable() > 0 && (!attempt || a.accepted || !attempt->accepted)) attempt = a;
    if (!attempt) throw oms::conflict("nothing_to_refund", "Nothing of this payment is left to refund.");

    int64_t amount = attempt->refundable();
    if (auto it = body.find("amount"); it != body.end() && !it->is_null()) {
        auto parsed = oms::money::parse_json(*it, payment.currency);
        if (!parsed.ok()) throw oms::validation_failed({{"amount", parsed.error}});
        if (parsed.minor <= 0) throw oms::validation_failed({{"amount", "must be greater than 0"}});
        if (parsed.minor > attempt->refundable()) {
            throw oms::Error(409, "refund_exceeds_captured",
                             "At most " + oms::money::to_json(attempt->refundable(), payment.currency).dump() + " " +
                                 payment.currency + " can still be refunded.",
                             {{"amount", "exceeds what is left to refund"}});
        }
        amount = parsed.minor;
    }
    std::string reason = "refunded by an admin";
    if (auto it = body.find("reason"); it != body.end() && !it->is_null()) {
        if (!it->is_string() || it->get<std::string>().size() > 500)
            throw oms::validation_failed({{"reason", "must be a string of at most 500 characters"}});
        if (!it->get<std::string>().empty()) reason = it->get<std::string>();
    }
    // The host replays a resubmitted request (same Idempotency-Key) once this
    // one committed; the gateway key comes from the same key, so even a
    // resubmission racing a rolled-back first attempt refunds once.
    std::string refund_id = create_refund(tx, payment, *attempt, amount, reason, false,
                                          PublishRefunded::when_processed,
                                          req.header("idempotency-key").value_or(""));
    return oms::Response::json(refund_json(tx, refund_id), 201)
        .header("Location", "/payments/" + payment.id);
}

oms::Response simulate_payment_route(oms::Request& req) {
    auto caller = req.require_caller();
    const auto& body = req.json_body();
    std::string outcome = body.is_object() ? body.value("outcome", "") : "";
    if (outcome != "captured" && outcome != "failed" && outcome != "authorized")
        throw oms::validation_failed({{"outcome", "must be captured, failed or authorized"}});
    auto& tx = req.tx();
    auto payment = visible_payment(req, caller, Lock::none);
    if (!payment.simulated)
        throw oms::conflict("not_simulated", "This payment went through Razorpay; it cannot be simulated.");

    bool failed = outcome == "failed";
    oms::json entity = {{"id", "pay_" + random_alnum(14)},
                        {"entity", "payment"},
                        {"amount", payment.amount},
                        {"currency", payment.currency},
                        {"status", outcome},
                        {"order_id", payment.gateway_order_id},
                        {"method", "upi"},
                        {"captured", outcome == "captured"},
                        {"error_code", failed ? oms::json("BAD_REQUEST_ERROR") : oms::json(nullptr)},
                        {"error_description", failed ? oms::json("Simulated failure.") : oms::json(nullptr)},
                        {"error_reason", failed ? oms::json("payment_failed") : oms::json(nullptr)},
                        {"created_at", unix_now()}};
    oms::json envelope = {{"entity", "event"},
                          {"account_id", "acc_simulated"},
                          {"event", "payment." + outcome},
                          {"contains", {"payment"}},
                          {"payload", {{"payment", {{"entity", entity}}}}},
                          {"created_at", unix_now()}};
    oms::json result = process_event(tx, "sim_evt_" + random_alnum(14), envelope);
    oms::json out = payment_json(tx, payment.id);
    out["simulation"] = result;
    return oms::Response::json(out);
}

oms::ServiceResult payments_for_order(oms::Tx& tx, const oms::json& args) {
    std::string order_id = args.is_object() ? args.value("order_id", "") : "";
    return oms::JsonText{R"({"payments":)" + payments_text_of_order(tx, order_id) + "}"};
}

}  // namespace payments
