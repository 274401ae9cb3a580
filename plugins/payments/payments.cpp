// payments: Razorpay checkout for orders.
//
//   POST /payments               (token, Idempotency-Key) {order_id} → 201 a payment for checkout
//                                (200 the order's open payment again)
//   POST /payments/verify        (token) {razorpay_order_id, razorpay_payment_id, razorpay_signature}
//   POST /payments/webhook       (Razorpay; raw body, X-Razorpay-Signature) payment.*, order.paid, refund.*
//   GET  /payments/:id           (token) owner or admin
//   POST /payments/:id/refund    (admin) {amount?, reason?} → 201 the refund
//   POST /payments/:id/simulate  (token; SIMULATED mode only) {outcome: captured|failed|authorized}
//   events out: payment.captured (orders marks the order paid), payment.refunded
//   services:   payments.for_order {order_id}, payments.refund_order {order_id, reason?}
//   config:     settings.hpp
#include <oms/plugin.hpp>

#include <atomic>
#include <chrono>

#include "gateway.hpp"
#include "payment_routes.hpp"
#include "refunds.hpp"
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
    oms::log::warn("payments: SIMULATED gateway — no money moves; not for production "
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

    p.route("POST", "/payments", create_payment_route)
        .auth()
        .idempotent()
        .summary("Start paying an order: a Razorpay order for checkout (the open one again if any)");
    p.route("POST", "/payments/verify", verify_payment_route)
        .auth()
        .summary("Verify a checkout signature and apply the payment");
    p.route("POST", "/payments/webhook", webhook_route)
        .raw_body()
        .summary("Razorpay webhook (signed with RAZORPAY_WEBHOOK_SECRET)");
    p.route("GET", "/payments/:id", get_payment_route).auth().summary("A payment with its attempts and refunds");
    p.route("POST", "/payments/:id/refund", refund_payment_route)
        .role("admin")
        .summary("Refund a payment, fully or partly");
    if (s.simulated)
        p.route("POST", "/payments/:id/simulate", simulate_payment_route)
            .auth()
            .summary("SIMULATED mode only: make the payment captured, failed or authorized as a webhook would");

    p.service("payments.for_order", payments_for_order,
              "{order_id} → {payments: [...]} as GET /payments/:id shows them");
    p.service("payments.refund_order", refund_order,
              "{order_id, reason?} → {refunds: [...]}: refunds everything captured and not yet refunded; 502 if "
              "the gateway fails");
}

}  // namespace

OMS_PLUGIN("payments", "1.0.0", "Payments through Razorpay: checkout, webhooks, refunds", setup, "orders")
