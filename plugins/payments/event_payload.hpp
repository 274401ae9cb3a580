// Reading Razorpay's JSON (webhook envelopes, payment and refund entities)
// defensively: a missing or mistyped field reads as empty, never throws.
// Pure functions; tests/fuzz feeds them arbitrary JSON.
#pragma once

#include <oms/plugin.hpp>

#include <string>

namespace payments {

// j[key] when it is a string, else "".
inline std::string string_field(const oms::json& j, const char* key) {
    if (!j.is_object()) return {};
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// payload.<name>.entity of a webhook envelope, or null.
inline const oms::json* entity_of(const oms::json& envelope, const char* name) {
    if (!envelope.is_object()) return nullptr;
    auto payload = envelope.find("payload");
    if (payload == envelope.end() || !payload->is_object()) return nullptr;
    auto part = payload->find(name);
    if (part == payload->end() || !part->is_object()) return nullptr;
    auto entity = part->find("entity");
    if (entity == part->end() || !entity->is_object()) return nullptr;
    return &*entity;
}

// How far a payment attempt got; statuses only move up (-1: not a status).
// failed < authorized is Razorpay's late authorization after a failure.
inline int attempt_rank(const std::string& status) {
    if (status == "created") return 0;
    if (status == "failed") return 1;
    if (status == "authorized") return 2;
    if (status == "captured") return 3;
    return -1;
}

// The attempt status a payment snapshot stands for, or "" for none we act on.
// "refunded" with captured=true was captured first; an authorization Razorpay
// refunded itself never was ours.
inline std::string target_status(const oms::json& payment) {
    std::string status = string_field(payment, "status");
    auto captured = payment.is_object() ? payment.find("captured") : payment.end();
    bool was_captured = captured != payment.end() && captured->is_boolean() && captured->get<bool>();
    if (status == "captured" || (status == "refunded" && was_captured)) return "captured";
    if (status == "authorized" || status == "failed") return status;
    return {};
}

// Refund statuses: pending → processed | failed (-1: not a status).
inline int refund_rank(const std::string& s) { return s == "pending" ? 0 : (s == "processed" || s == "failed") ? 1 : -1; }

}  // namespace payments
