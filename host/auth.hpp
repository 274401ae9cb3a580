// HS256 JWTs: issued and parsed with Poco JWT; the signature is checked in
// constant time here too, and exp/nbf are enforced here (Poco 1.11 does not).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace oms::host {

struct Principal {
    std::string user_id;
    std::string role;
};

class TokenService {
public:
    TokenService(std::string secret, int64_t lifetime_seconds);

    struct Issued {
        std::string token;
        int64_t expires_in;
    };
    Issued issue(std::string_view subject, std::string_view role) const;

    // The principal of a valid, unexpired HS256 token; nullopt otherwise
    // (`why` names the reason, for logs).
    std::optional<Principal> verify(std::string_view token, std::string* why = nullptr) const;

    int64_t lifetime() const { return lifetime_; }

private:
    std::string secret_;
    int64_t lifetime_;
};

}  // namespace oms::host
