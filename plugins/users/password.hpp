// argon2id password hashing as PHC strings ("$argon2id$v=19$m=..,t=..,p=..$salt$hash").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace users {

struct Argon2Params {
    uint32_t memory_kib = 19456;  // OWASP's minimum for argon2id: 19 MiB,
    uint32_t iterations = 2;      // t=2,
    uint32_t parallelism = 1;     // p=1
};

class PasswordHasher {
public:
    // Throws oms::Error when the parameters are below OWASP's minimum.
    explicit PasswordHasher(Argon2Params params);

    std::string hash(std::string_view password) const;
    bool verify(std::string_view password, const std::string& phc) const;
    // Spends the time of one verification against a hash of the current
    // parameters; used for unknown emails so they cannot be told by timing.
    void verify_nothing(std::string_view password) const;
    // True when `phc` was made with weaker parameters than the current ones
    // (or is not argon2id v19 at all).
    bool needs_rehash(const std::string& phc) const;

    const Argon2Params& params() const { return params_; }

private:
    Argon2Params params_;
    std::string decoy_;  // a hash of a random password, for verify_nothing
};

}  // namespace users
