#include "webhook.hpp"

#include "capture.hpp"
#include "event_payload.hpp"
#include "refunds.hpp"
#include "settings.hpp"
#include "signature.hpp"

namespace payments {
namespace {

std::string dispatch(oms::Tx& tx, const std::string& event, const oms::json& envelope) {
    if (event == "payment.authorized" || event == "payment.captured" || event == "payment.failed" ||
        event == "order.paid") {
        const oms::json* payment = entity_of(envelope, "payment");
        if (!payment) return "ignored: no payment entity";
        return apply_payment_entity(tx, *payment);
    }
    if (event == "refund.created" || event == "refund.processed" || event == "refund.failed") {
        const oms::json* refund = entity_of(envelope, "refund");
        if (!refund) return "ignored: no refund entity";
        return apply_refund_entity(tx, *refund);
    }
    return "ignored";
}

bool printable_id(const std::string& s) {
    if (s.empty() || s.size() > 100) return false;
    for (unsigned char c : s)
        if (c <= 0x20 || c >= 0x7f) return false;
    return true;
}

}  // namespace

oms::json process_event(oms::Tx& tx, const std::string& event_id, const oms::json& envelope) {
    std::string event = envelope.value("event", "");
    bool first = !tx.query("INSERT INTO payment_webhook_events (event_id, event) VALUES ($1, $2) "
                           "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                           event_id, event)
                      .empty();
    if (!first) return {{"status", "duplicate"}, {"event", event}, {"event_id", event_id}};

    std::string result;
    try {
        result = dispatch(tx, event, envelope);
    } catch (const oms::Error& e) {
        if (e.status() >= 500) throw;
        // Our own refusal of a signed event is a bug or a state we cannot
        // handle yet: answer 5xx so Razorpay keeps the event and retries.
        oms::log::error("webhook " + event + " (" + event_id + ") failed: " + e.code() + ": " + e.detail());
        throw oms::Error(500, "webhook_failed", "The event could not be applied: " + e.detail());
    }
    tx.exec("UPDATE payment_webhook_events SET result = $2 WHERE event_id = $1", event_id, result);
    return {{"status", "processed"}, {"event", event}, {"event_id", event_id}, {"result", result}};
}

oms::Response webhook_route(oms::Request& req) {
    auto signature = req.header("X-Razorpay-Signature");
    std::string_view body = req.body();
    if (!signature || !webhook_signature_valid(settings().webhook_secret, body, *signature))
        throw oms::bad_request("invalid_signature",
                               settings().webhook_secret.empty()
                                   ? "Webhooks are not accepted: RAZORPAY_WEBHOOK_SECRET is not set."
                                   : "X-Razorpay-Signature is missing or does not match the body.");

    auto envelope = oms::json::parse(body, nullptr, false);
    if (!envelope.is_object() || !envelope.contains("event") || !envelope["event"].is_string())
        throw oms::bad_request("malformed_event", "The body is not a Razorpay event.");

    // Razorpay always sends the id; without one, the body itself is the
    // identity of the delivery (a resend of the same bytes is the same event).
    std::string event_id = req.header("X-Razorpay-Event-Id").value_or("");
    if (event_id.empty()) event_id = "sha256:" + sha256_hex(body);
    if (!printable_id(event_id)) throw oms::bad_request("invalid_event_id", "X-Razorpay-Event-Id is not an id.");

    return oms::Response::json(process_event(req.tx(), event_id, envelope));
}

}  // namespace payments
