#include "password.hpp"

#include <argon2.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdio>
#include <oms/plugin.hpp>
#include <stdexcept>
#include <vector>

namespace users {
namespace {

constexpr size_t kHashBytes = 32;

// 22 printable characters (base64 alphabet) from 16 random bytes: 132 bits of
// entropy. Printable salts let the stored hashes be re-derived by other argon2
// implementations that take the salt as a string (Debian's argon2 tool).
std::string random_salt() {
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("RAND_bytes failed");
    unsigned char b64[32];
    EVP_EncodeBlock(b64, raw, sizeof raw);
    return std::string(reinterpret_cast<char*>(b64), 22);
}

}  // namespace

PasswordHasher::PasswordHasher(Argon2Params params) : params_(params) {
    if (params_.memory_kib < 19456 || params_.iterations < 2 || params_.parallelism < 1)
        throw oms::Error(500, "bad_config",
                         "argon2id parameters below OWASP's minimum (m=19456 KiB, t=2, p=1) are refused");
    unsigned char raw[24];
    if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("RAND_bytes failed");
    decoy_ = hash(std::string_view(reinterpret_cast<char*>(raw), sizeof raw));
}

std::string PasswordHasher::hash(std::string_view password) const {
    std::string salt = random_salt();
    std::vector<char> encoded(argon2_encodedlen(params_.iterations, params_.memory_kib, params_.parallelism,
                                                static_cast<uint32_t>(salt.size()), kHashBytes, Argon2_id));
    int rc = argon2id_hash_encoded(params_.iterations, params_.memory_kib, params_.parallelism, password.data(),
                                   password.size(), salt.data(), salt.size(), kHashBytes, encoded.data(),
                                   encoded.size());
    if (rc != ARGON2_OK) throw std::runtime_error(std::string("argon2id: ") + argon2_error_message(rc));
    return std::string(encoded.data());
}

bool PasswordHasher::verify(std::string_view password, const std::string& phc) const {
    int rc = argon2id_verify(phc.c_str(), password.data(), password.size());
    if (rc == ARGON2_OK) return true;
    if (rc == ARGON2_VERIFY_MISMATCH) return false;
    // A malformed stored hash must not let anyone in, nor crash the request.
    oms::log::error(std::string("argon2id_verify: ") + argon2_error_message(rc));
    return false;
}

void PasswordHasher::verify_nothing(std::string_view password) const { (void)verify(password, decoy_); }

bool PasswordHasher::needs_rehash(const std::string& phc) const {
    unsigned version = 0, m = 0, t = 0, p = 0;
    if (std::sscanf(phc.c_str(), "$argon2id$v=%u$m=%u,t=%u,p=%u$", &version, &m, &t, &p) != 4) return true;
    return version != ARGON2_VERSION_13 || m < params_.memory_kib || t < params_.iterations ||
           p != params_.parallelism;
}

}  // namespace users
