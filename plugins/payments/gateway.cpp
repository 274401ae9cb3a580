#include "gateway.hpp"

#include <utility>

namespace payments {
namespace {

std::unique_ptr<Gateway> current;

std::vector<oms::FieldError> gateway_fields(const std::string& code, const std::string& reason,
                                            const std::string& field) {
    std::vector<oms::FieldError> out;
    if (!code.empty()) out.push_back({"gateway.code", code});
    if (!reason.empty() && reason != "NA") out.push_back({"gateway.reason", reason});
    if (!field.empty()) out.push_back({"gateway.field", field});
    return out;
}

std::string detail_of(int http_status, const std::string& code, const std::string& description) {
    if (http_status == 0) return "The payment gateway did not answer: " + description;
    return "The payment gateway refused the request (HTTP " + std::to_string(http_status) +
           (code.empty() ? "" : ", " + code) + "): " + description;
}

}  // namespace

GatewayError::GatewayError(int http_status, std::string gateway_code, std::string description, std::string reason,
                           std::string field)
    : oms::Error(502, http_status == 0 ? "gateway_unavailable" : "gateway_error",
                 detail_of(http_status, gateway_code, description), gateway_fields(gateway_code, reason, field)),
      http_status_(http_status),
      gateway_code_(std::move(gateway_code)),
      description_(std::move(description)) {}

Gateway& gateway() { return *current; }

Gateway& gateway_for(bool simulated_payment) {
    if (simulated_payment == current->simulated()) return *current;
    if (!simulated_payment)
        throw oms::conflict("gateway_not_configured",
                            "This payment went through Razorpay; set RAZORPAY_KEY_ID (and its secrets) to act on it.");
    static const std::unique_ptr<Gateway> simulator = make_simulated_gateway();
    return *simulator;
}
void set_gateway(std::unique_ptr<Gateway> g) { current = std::move(g); }

}  // namespace payments
