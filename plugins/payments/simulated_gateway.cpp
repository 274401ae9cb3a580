// The gateway without Razorpay keys: ids are made here, nothing leaves the
// process and no money moves. Payments are "made" by POST /payments/:id/simulate,
// which feeds the same code as a verified webhook; refunds are processed at
// once. Refused at start-up in production (settings.cpp).
#include <chrono>
#include <map>
#include <mutex>

#include "gateway.hpp"
#include "signature.hpp"

namespace payments {
namespace {

int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

class SimulatedGateway : public Gateway {
public:
    bool simulated() const override { return true; }
    std::string key_id() const override { return "rzp_simulated"; }

    oms::json create_order(int64_t amount, const std::string& currency, const std::string& receipt,
                           const oms::json& notes) override {
        return {{"id", "order_" + random_alnum(14)},
                {"entity", "order"},
                {"amount", amount},
                {"amount_paid", 0},
                {"amount_due", amount},
                {"currency", currency},
                {"receipt", receipt},
                {"status", "created"},
                {"attempts", 0},
                {"notes", notes},
                {"created_at", unix_now()}};
    }
    oms::json fetch_order(const std::string&) override { throw no_records(); }
    oms::json fetch_payment(const std::string&) override { throw no_records(); }
    oms::json capture_payment(const std::string&, int64_t, const std::string&) override { throw no_records(); }

    oms::json refund_payment(const std::string& id, int64_t amount, const std::string& key,
                             const oms::json& notes) override {
        std::lock_guard lock(mu_);
        if (auto it = refunds_by_key_.find(key); !key.empty() && it != refunds_by_key_.end()) return it->second;
        oms::json refund = {{"id", "rfnd_" + random_alnum(14)},
                            {"entity", "refund"},
                            {"amount", amount},
                            {"payment_id", id},
                            {"notes", notes},
                            {"status", "processed"},
                            {"speed_processed", "normal"},
                            {"created_at", unix_now()}};
        if (!key.empty()) refunds_by_key_[key] = refund;
        return refund;
    }

private:
    static GatewayError no_records() {
        return GatewayError(400, "BAD_REQUEST_ERROR",
                            "the simulated gateway keeps no payments; use POST /payments/:id/simulate");
    }

    std::mutex mu_;
    std::map<std::string, oms::json> refunds_by_key_;  // X-Refund-Idempotency, as Razorpay honours it
};

}  // namespace

std::unique_ptr<Gateway> make_simulated_gateway() { return std::make_unique<SimulatedGateway>(); }

}  // namespace payments
