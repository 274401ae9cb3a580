// payments: Razorpay checkout for orders.
//
//   POST /payments               (token, Idempotency-Key) {order_id} → 201 a payment for checkout
//                                (200 the order's open payment again)
//   POST /payments/verify        (token) {razorpay_order_id, razorpay_payment_id, razorpay_signature}
//   POST /payments/webhook       (Razorpay; raw body, X-Razorpay-Signature) payment.*, order.paid, refund.*
//   GET  /payments/:id           (token) owner or admin
//   POST /payments/:id/refund    (admin, Idempotency-Key) {amount?, reason?} → 201 the refund, requested
//                                (made at Razorpay by the payments.refund task once this commits)
//   POST /payments/:id/simulate  (token; SIMULATED mode only) {outcome: captured|failed|authorized}
//   events out: payment.captured (orders marks the order paid), payment.refunded
//   services:   payments.for_order {order_id}, payments.refund_order {order_id, reason?}
//   tasks:      payments.refund {refund_id, publish} (refunds.hpp)
//   config:     settings.hpp
#include <oms/plugin.hpp>

#include <atomic>
#include <chrono>

#include "gateway.hpp"
#include "payment_routes.hpp"
#include "refunds.hpp"
#include "schemas.hpp"
#include "settings.hpp"
#include "webhook.hpp"

namespace {

using namespace payments;

// The simulated gateway says so loudly once the host serves, and again every
// hour. Not from setup(): the host logs to stdout, and setup() also runs for
// CLI commands whose stdout is machine-read (`oms-host routes`, `openapi`).
void remind_simulated() {
    using Clock = std::chrono::steady_clock;
    static std::atomic<int64_t> last{0};
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
    int64_t before = last.load();
    if (before != 0 && now - before < 3600) return;
    if (!last.compare_exchange_strong(before, now)) return;
    oms::log::warn("SIMULATED gateway — no money moves; not for production "
                   "(set RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET and RAZORPAY_WEBHOOK_SECRET for Razorpay)");
}

void setup(oms::Plugin& p) {
    Settings s = load_settings();
    if (s.simulated) {
        set_gateway(make_simulated_gateway());
        p.job("simulated_gateway_warning", std::chrono::seconds(1), remind_simulated);
    } else {
        set_gateway(make_razorpay_gateway(s));
    }
    set_settings(s);

    namespace schemas = payments::schemas;
    const auto payment_id = oms::schema::uuid();
    const char* gateway_errors = "gateway_unavailable: Razorpay did not answer; gateway_error: Razorpay refused "
                                 "(its error code in errors[].message); nothing was written.";
    p.route("POST", "/payments", create_payment_route)
        .auth()
        .idempotent()
        .summary("Start paying an order: a Razorpay order for checkout (the open one again if any)")
        .request_schema(schemas::new_payment())
        .response_schema(201, schemas::payment(true))
        .response_schema(200, schemas::payment(true), "The order's open payment, returned again")
        .response_header(201, "Location", "The payment's URL")
        .error(400, "amount_not_supported: a KWD, BHD or OMR total with a third decimal, which Razorpay refuses.")
        .error(409, "order_not_payable: the order is not pending; nothing_to_pay: its total is zero.")
        .error(502, gateway_errors);
    p.route("POST", "/payments/verify", verify_payment_route)
        .auth()
        .summary("Verify a checkout signature and apply the payment")
        .request_schema(schemas::verification())
        .response_schema(200, schemas::payment())
        .error(400, "invalid_signature: razorpay_signature does not match; payment_order_mismatch: the payment "
                    "belongs to another gateway order.")
        .error(409, "simulated_gateway: the simulated gateway has no checkout to verify.")
        .error(502, gateway_errors);
    p.route("POST", "/payments/webhook", webhook_route)
        .raw_body()
        .summary("Razorpay webhook (signed with RAZORPAY_WEBHOOK_SECRET)")
        .description("X-Razorpay-Signature is the hex HMAC-SHA256 of the raw body; deliveries are de-duplicated "
                     "by X-Razorpay-Event-Id. A 5xx answer makes Razorpay retry; nothing is half-applied.")
        .openapi({{"parameters",
                   {{{"name", "X-Razorpay-Signature"}, {"in", "header"}, {"required", true},
                     {"schema", {{"type", "string"}}}},
                    {{"name", "X-Razorpay-Event-Id"}, {"in", "header"}, {"required", false},
                     {"schema", {{"type", "string"}}}}}}})
        .request_schema(schemas::webhook_event())
        .response_schema(200, schemas::webhook_result())
        .error(400, "invalid_signature: the signature is missing or wrong; malformed_event, invalid_event_id.")
        .error(500, "webhook_failed: the event could not be applied; Razorpay retries it.")
        .error(502, gateway_errors);
    p.route("GET", "/payments/:id", get_payment_route)
        .auth()
        .summary("A payment with its attempts and refunds")
        .path_param("id", payment_id)
        .response_schema(200, schemas::payment());
    p.route("POST", "/payments/:id/refund", refund_payment_route)
        .role("admin")
        .idempotent()
        .summary("Refund a payment, fully or partly")
        .path_param("id", payment_id)
        .request_schema(schemas::refund_request(), false)
        .response_schema(201, schemas::refund())
        .response_header(201, "Location", "The payment's URL")
        .error(409, "nothing_to_refund; refund_exceeds_captured: more than is left to refund; gateway_not_configured.");
    if (s.simulated)
        p.route("POST", "/payments/:id/simulate", simulate_payment_route)
            .auth()
            .summary("SIMULATED mode only: make the payment captured, failed or authorized as a webhook would")
            .path_param("id", payment_id)
            .request_schema(schemas::simulation())
            .response_schema(200, schemas::payment())
            .error(409, "not_simulated: the payment went through Razorpay.");

    p.service("payments.for_order", payments_for_order, "An order's payments, with their attempts and refunds")
        .accepts(schemas::new_payment())
        .returns(schemas::payments_of_order());
    p.service("payments.refund_order", refund_order,
              "Asks for refunds of everything captured and not yet refunded, made at the gateway once the caller's "
              "transaction commits (status requested until then)")
        .accepts(schemas::refund_order_args())
        .returns(schemas::refunds_made());
    p.event("payment.captured", "A capture of the whole order total was accepted (webhook or verified checkout)",
            schemas::captured_event());
    p.event("payment.refunded", "A refund was settled by the gateway", schemas::refunded_event());
    p.calls("orders.get");
    p.task("payments.refund", make_requested_refund);
}

}  // namespace

OMS_PLUGIN("payments", "1.0.0", "Payments through Razorpay: checkout, webhooks, refunds", setup, "orders")
