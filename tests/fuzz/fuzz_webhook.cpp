// POST /payments/webhook's pure part, on arbitrary bytes: the signature check
// over the raw body (a valid signature is accepted, any change refused), then
// the envelope and entity reading the plugin does before touching the database.
#include <oms/plugin.hpp>

#include <string>

#include "event_payload.hpp"
#include "signature.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string body(reinterpret_cast<const char*>(data), size);
    const std::string secret = "fuzz-webhook-secret";
    std::string good = payments::hmac_sha256_hex(secret, body);
    if (!payments::webhook_signature_valid(secret, body, good)) __builtin_trap();
    std::string bad = good;
    bad[size % bad.size()] = bad[size % bad.size()] == '0' ? '1' : '0';
    if (payments::webhook_signature_valid(secret, body, bad)) __builtin_trap();
    if (payments::webhook_signature_valid("", body, good)) __builtin_trap();  // no secret: nothing verifies

    auto envelope = oms::json::parse(body, nullptr, false);
    if (envelope.is_discarded()) return 0;
    std::string event = payments::string_field(envelope, "event");
    if (const oms::json* payment = payments::entity_of(envelope, "payment")) {
        std::string target = payments::target_status(*payment);
        if (!target.empty() && payments::attempt_rank(target) < 1) __builtin_trap();
        payments::string_field(*payment, "id");
        payments::string_field(*payment, "order_id");
    }
    if (const oms::json* refund = payments::entity_of(envelope, "refund"))
        payments::refund_rank(payments::string_field(*refund, "status"));
    (void)event;
    return 0;
}
