#include "auth.hpp"

#include <Poco/JWT/Signer.h>
#include <Poco/JWT/Token.h>
#include <Poco/Timestamp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <ctime>

namespace oms::host {
namespace {

std::string base64url(const unsigned char* data, size_t len) {
    static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    out.reserve((len + 2) / 3 * 4);
    for (size_t i = 0; i < len; i += 3) {
        uint32_t n = uint32_t(data[i]) << 16;
        if (i + 1 < len) n |= uint32_t(data[i + 1]) << 8;
        if (i + 2 < len) n |= data[i + 2];
        out.push_back(alphabet[(n >> 18) & 63]);
        out.push_back(alphabet[(n >> 12) & 63]);
        if (i + 1 < len) out.push_back(alphabet[(n >> 6) & 63]);
        if (i + 2 < len) out.push_back(alphabet[n & 63]);
    }
    return out;
}

bool fail(std::string* why, const char* reason) {
    if (why) *why = reason;
    return false;
}

}  // namespace

TokenService::TokenService(std::string secret, int64_t lifetime_seconds)
    : secret_(std::move(secret)), lifetime_(lifetime_seconds) {}

TokenService::Issued TokenService::issue(std::string_view subject, std::string_view role) const {
    Poco::JWT::Token token;
    token.setType("JWT");
    token.setSubject(std::string(subject));
    token.payload().set("role", std::string(role));
    // Whole seconds: Poco's setIssuedAt/setExpiration write fractional
    // NumericDates, which many JWT libraries reject.
    Poco::Int64 now = Poco::Timestamp().epochTime();
    token.payload().set("iat", now);
    token.payload().set("exp", now + lifetime_);
    Poco::JWT::Signer signer(secret_);
    return {signer.sign(token, Poco::JWT::Signer::ALGO_HS256), lifetime_};
}

std::optional<Principal> TokenService::verify(std::string_view jwt, std::string* why) const {
    if (jwt.size() > 8192) return fail(why, "token too long"), std::nullopt;
    size_t d1 = jwt.find('.');
    size_t d2 = d1 == std::string_view::npos ? d1 : jwt.find('.', d1 + 1);
    if (d2 == std::string_view::npos || jwt.find('.', d2 + 1) != std::string_view::npos)
        return fail(why, "malformed token"), std::nullopt;

    // Constant-time signature check over "header.payload" before anything is parsed.
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    std::string_view signed_part = jwt.substr(0, d2);
    HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
         reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac, &mac_len);
    std::string expected = base64url(mac, mac_len);
    std::string_view given = jwt.substr(d2 + 1);
    if (given.size() != expected.size() || CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0)
        return fail(why, "bad signature"), std::nullopt;

    try {
        // The signature is verified above; Poco only parses (its verifier
        // would compute the HMAC a second time, with a per-call DigestEngine).
        Poco::JWT::Token token{std::string(jwt)};
        if (token.getAlgorithm() != "HS256") return fail(why, "algorithm not allowed"), std::nullopt;
        if (!token.payload().has("exp")) return fail(why, "no exp claim"), std::nullopt;
        Poco::Timestamp now;
        if (token.getExpiration() <= now) return fail(why, "expired"), std::nullopt;
        if (token.payload().has("nbf") && token.getNotBefore() > now)
            return fail(why, "not yet valid"), std::nullopt;
        Principal p;
        p.user_id = token.getSubject();
        if (token.payload().has("role")) p.role = token.payload().getValue<std::string>("role");
        if (p.user_id.empty() || p.role.empty()) return fail(why, "missing sub or role"), std::nullopt;
        return p;
    } catch (const std::exception&) {
        return fail(why, "malformed token"), std::nullopt;
    }
}

}  // namespace oms::host
