// HMAC signatures Razorpay uses, compared in constant time, and random ids.
#pragma once

#include <string>
#include <string_view>

namespace payments {

// Lower-case hex of HMAC-SHA256(key, data).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// Lower-case hex of SHA-256(data).
std::string sha256_hex(std::string_view data);

// Whether `given` equals `expected` (both hex), in time independent of where
// they differ (CRYPTO_memcmp). A length mismatch is answered at once: the
// length of a hex HMAC is public.
bool signature_matches(std::string_view expected, std::string_view given);

// Checkout: hex HMAC-SHA256(key_secret, gateway_order_id + "|" + payment_id).
bool checkout_signature_valid(std::string_view key_secret, std::string_view gateway_order_id,
                              std::string_view payment_id, std::string_view signature);

// Webhooks: hex HMAC-SHA256(webhook_secret, raw body).
bool webhook_signature_valid(std::string_view webhook_secret, std::string_view raw_body,
                             std::string_view signature);

// `n` random characters of [A-Za-z0-9] from the OpenSSL CSPRNG (gateway-style ids).
std::string random_alnum(size_t n);

}  // namespace payments
