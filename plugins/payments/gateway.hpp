// The payment gateway behind one interface: Razorpay's REST API over HTTPS
// (razorpay_gateway.cpp) or, without keys, a simulated gateway that answers
// in-process (simulated_gateway.cpp). Entities are Razorpay's JSON shapes.
#pragma once

#include <oms/plugin.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "settings.hpp"

namespace payments {

// A gateway call that failed, answered to our client as 502:
//   no answer (refused, dropped, timed out) → code gateway_unavailable;
//   an error answer → code gateway_error, with Razorpay's error code, reason
//   and field in `errors` ({field: "gateway.code", message: "BAD_REQUEST_ERROR"})
//   and the description in `detail`.
class GatewayError : public oms::Error {
public:
    // http_status 0 = no answer.
    GatewayError(int http_status, std::string gateway_code, std::string description, std::string reason = {},
                 std::string field = {});
    int http_status() const { return http_status_; }
    const std::string& gateway_code() const { return gateway_code_; }
    const std::string& description() const { return description_; }

private:
    int http_status_;
    std::string gateway_code_, description_;
};

class Gateway {
public:
    virtual ~Gateway() = default;
    virtual bool simulated() const = 0;
    // The public key id the checkout needs.
    virtual std::string key_id() const = 0;

    // POST /v1/orders {amount, currency, receipt, notes} → the order entity.
    virtual oms::json create_order(int64_t amount, const std::string& currency, const std::string& receipt,
                                   const oms::json& notes) = 0;
    // GET /v1/orders/:id.
    virtual oms::json fetch_order(const std::string& gateway_order_id) = 0;
    // GET /v1/payments/:id.
    virtual oms::json fetch_payment(const std::string& gateway_payment_id) = 0;
    // POST /v1/payments/:id/capture {amount, currency} → the payment entity.
    virtual oms::json capture_payment(const std::string& gateway_payment_id, int64_t amount,
                                      const std::string& currency) = 0;
    // POST /v1/payments/:id/refund {amount, notes} with X-Refund-Idempotency:
    // the same key and body return the same refund, never a second one.
    virtual oms::json refund_payment(const std::string& gateway_payment_id, int64_t amount,
                                     const std::string& idempotency_key, const oms::json& notes) = 0;
};

std::unique_ptr<Gateway> make_razorpay_gateway(const Settings& settings);
std::unique_ptr<Gateway> make_simulated_gateway();

// The gateway chosen at start-up (set once by setup, then only read).
Gateway& gateway();
void set_gateway(std::unique_ptr<Gateway> g);

// The gateway that holds a payment's money: a payment made while simulated
// stays with the simulator (there is nothing at Razorpay to refund), and a
// Razorpay payment is never "refunded" by the simulator (409
// gateway_not_configured: configure the keys first).
Gateway& gateway_for(bool simulated_payment);

}  // namespace payments
