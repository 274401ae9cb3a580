// A fake Razorpay gateway for tests: the REST API the payments plugin calls
// (orders, payments, refunds under /v1, Basic auth, Razorpay's error shape),
// the customer's side of checkout, and signed webhooks. It runs in-process on
// its own threads over real sockets (127.0.0.1, kernel-chosen port), so the
// plugin's real HTTP client is exercised. Facts: /work/shared/razorpay.md.
//
// API collections (GET /orders/:id/payments, /payments/:id/refunds) list newest
// first, as Razorpay does; the inspection vectors below are in creation order.
//
// Every method is thread-safe: tests drive it while the plugin calls the API.
// Control methods throw std::out_of_range for an unknown id and
// std::logic_error for a transition Razorpay would never make.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace omstest {

struct FakeRazorpayOptions {
    std::string key_id = "rzp_test_fakekey0001";
    std::string key_secret = "fake_key_secret_0123456789";
    std::string webhook_secret = "fake_webhook_secret_0123456789";
    std::string account_id = "acc_FakeAccount0001";
};

// What the webhook receiver answered; status 0 = could not connect (or no answer).
struct WebhookDelivery {
    int status = 0;
    std::string body;      // the receiver's response body
    std::string event_id;  // the X-Razorpay-Event-Id sent
    std::string raw;       // the exact request body sent (and signed)
};

class FakeRazorpay {
public:
    explicit FakeRazorpay(FakeRazorpayOptions = {});  // starts listening on 127.0.0.1:0
    ~FakeRazorpay();                                   // stops the server
    FakeRazorpay(const FakeRazorpay&) = delete;
    FakeRazorpay& operator=(const FakeRazorpay&) = delete;

    int port() const;
    std::string api_base() const;  // "http://127.0.0.1:PORT/v1"
    const FakeRazorpayOptions& options() const;
    // The Authorization header Razorpay requires: "Basic " + base64(key_id:key_secret).
    std::string basic_authorization() const;
    void set_webhook_url(std::string url);  // e.g. "http://127.0.0.1:HOSTPORT/payments/webhook"

    // --- Faults (checked before auth, as a gateway outage would be) ---
    void set_down(bool down);              // every API call: connection closed without a response
    void set_status_override(int status);  // 0 = off; else every call answers this status + error body
    void set_latency(std::chrono::milliseconds);  // added before every API answer (or drop)
    // ADDED: only the next `calls` API calls fail — with `status`, or dropped like
    // set_down when status is 0 — so a client's retry can be seen to succeed.
    void fail_next(int calls, int status);

    // --- Customer actions at checkout (what the browser + bank would do) ---
    // Amount defaults to the order's amount_due; it must equal it unless the
    // order allows partial payment (then 1..amount_due). No payment on a paid order.
    std::string authorize(const std::string& gateway_order_id, std::optional<int64_t> amount = {},
                          std::string method = "upi");  // → "pay_..." authorized; order → attempted
    void capture(const std::string& payment_id);  // authorized → captured; order amount_paid, → paid
    std::string fail(const std::string& gateway_order_id,
                     std::string reason = "payment_failed");  // → "pay_..." failed, error_* set
    void fail_to_captured(const std::string& payment_id);     // documented late auth: failed → captured
    void process_refund(const std::string& refund_id);        // pending → processed
    // ADDED: pending → failed; the amount becomes refundable again (refund.failed).
    void fail_refund(const std::string& refund_id);
    // ADDED: Razorpay's auto-refund of a payment left authorized for 3 days: a full
    // refund (pending) of an uncaptured payment; payment → refunded, captured stays false.
    std::string auto_refund(const std::string& payment_id);
    // hex HMAC-SHA256(key_secret, order_id + "|" + payment_id): what checkout hands the browser.
    std::string checkout_signature(const std::string& gateway_order_id,
                                   const std::string& payment_id) const;

    // --- Webhooks ---
    // {entity:"event", account_id, event, contains, payload, created_at} with the
    // CURRENT snapshots. payment.* → payment; order.paid → payment + order;
    // refund.* → refund + payment; any other event → payment (or refund + payment
    // when id is a rfnd_ id). id: pay_... or rfnd_... (order.paid takes the pay_ id).
    nlohmann::json webhook_event(const std::string& event, const std::string& id) const;
    // Serialises once, signs those exact bytes with webhook_secret, POSTs them with
    // X-Razorpay-Signature and X-Razorpay-Event-Id (fresh "evt_"+14 when empty).
    // Throws std::logic_error when no webhook URL is set. 5 s timeout, like Razorpay.
    WebhookDelivery deliver(const nlohmann::json& event, std::string event_id = {});
    // signature nullopt = no signature header (bad/missing signature tests).
    WebhookDelivery deliver_raw(const std::string& raw_body, const std::optional<std::string>& signature,
                                std::string event_id = {});
    WebhookDelivery send(const std::string& event, const std::string& id, std::string event_id = {});
    // ADDED: hex HMAC-SHA256(webhook_secret, raw) — to build a correctly signed deliver_raw.
    std::string webhook_signature(const std::string& raw_body) const;

    // --- Inspection (snapshots as the API would show them) ---
    nlohmann::json order(const std::string& id) const;  // throws std::out_of_range if unknown
    nlohmann::json payment(const std::string& id) const;
    nlohmann::json refund(const std::string& id) const;
    std::vector<nlohmann::json> orders() const;  // creation order
    std::vector<nlohmann::json> refunds_of(const std::string& payment_id) const;  // creation order
    // ADDED: the payments of an order, creation order.
    std::vector<nlohmann::json> payments_of(const std::string& gateway_order_id) const;

    // One API request. path is the request target as sent (with any query);
    // status 0 = the connection was dropped (set_down / fail_next with 0).
    struct Call {
        std::string method, path, body, authorization, refund_idempotency;
        int status;
    };
    std::vector<Call> calls() const;  // every API request received, in order
    void clear_calls();

    struct Impl;  // public only so the server's handler (in the .cpp) can reach it

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace omstest
