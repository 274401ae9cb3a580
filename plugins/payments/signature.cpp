#include "signature.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace payments {
namespace {

std::string to_hex(const unsigned char* bytes, size_t n) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(n * 2);
    for (size_t i = 0; i < n; ++i) {
        out.push_back(kDigits[bytes[i] >> 4]);
        out.push_back(kDigits[bytes[i] & 0xf]);
    }
    return out;
}

}  // namespace

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len))
        throw std::runtime_error("HMAC-SHA256 failed");
    return to_hex(mac, len);
}

std::string sha256_hex(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr))
        throw std::runtime_error("SHA-256 failed");
    return to_hex(digest, len);
}

bool signature_matches(std::string_view expected, std::string_view given) {
    if (expected.empty() || expected.size() != given.size()) return false;
    return CRYPTO_memcmp(expected.data(), given.data(), expected.size()) == 0;
}

bool checkout_signature_valid(std::string_view key_secret, std::string_view gateway_order_id,
                              std::string_view payment_id, std::string_view signature) {
    std::string data;
    data.reserve(gateway_order_id.size() + 1 + payment_id.size());
    data.append(gateway_order_id).append("|").append(payment_id);
    return signature_matches(hmac_sha256_hex(key_secret, data), signature);
}

bool webhook_signature_valid(std::string_view webhook_secret, std::string_view raw_body,
                             std::string_view signature) {
    if (webhook_secret.empty()) return false;
    return signature_matches(hmac_sha256_hex(webhook_secret, raw_body), signature);
}

std::string random_alnum(size_t n) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::string out;
    out.reserve(n);
    while (out.size() < n) {
        unsigned char buf[32];
        if (RAND_bytes(buf, sizeof buf) != 1) throw std::runtime_error("RAND_bytes failed");
        for (unsigned char b : buf) {
            if (b >= 248) continue;  // 248 = 4 * 62: keeps the choice uniform
            out.push_back(kAlphabet[b % 62]);
            if (out.size() == n) break;
        }
    }
    return out;
}

}  // namespace payments
