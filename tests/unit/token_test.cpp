#include "auth.hpp"

#include <Poco/Base64Decoder.h>
#include <Poco/Base64Encoder.h>
#include <Poco/JWT/Signer.h>
#include <Poco/JWT/Token.h>
#include <gtest/gtest.h>

#include <ctime>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

using oms::host::TokenService;

namespace {
const std::string kSecret(40, 's');

std::string sign_with(const std::string& secret, const std::string& alg, long exp_offset, const std::string& sub = "u1") {
    Poco::JWT::Token t;
    t.setSubject(sub);
    t.payload().set("role", std::string("customer"));
    t.setIssuedAt(Poco::Timestamp());
    t.setExpiration(Poco::Timestamp::fromEpochTime(std::time(nullptr) + exp_offset));
    Poco::JWT::Signer s(secret);
    return s.sign(t, alg);
}
}  // namespace

TEST(Tokens, IssuedTokensVerifyWithSubjectAndRole) {
    TokenService ts(kSecret, 3600);
    auto issued = ts.issue("user-7", "admin");
    EXPECT_EQ(issued.expires_in, 3600);
    auto p = ts.verify(issued.token);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->user_id, "user-7");
    EXPECT_EQ(p->role, "admin");
}

TEST(Tokens, ExpiredTokensAreRefused) {
    TokenService ts(kSecret, 3600);
    std::string why;
    EXPECT_FALSE(ts.verify(sign_with(kSecret, "HS256", -10), &why));
    EXPECT_FALSE(why.empty());
    EXPECT_TRUE(ts.verify(sign_with(kSecret, "HS256", 60)));
}

TEST(Tokens, OtherKeysAndAlgorithmsAreRefused) {
    TokenService ts(kSecret, 3600);
    EXPECT_FALSE(ts.verify(sign_with(std::string(40, 'x'), "HS256", 60)));
    EXPECT_FALSE(ts.verify(sign_with(kSecret, "HS512", 60)));
    // alg "none": header.payload. with no signature
    auto good = ts.issue("u1", "customer").token;
    auto payload = good.substr(good.find('.') + 1);
    payload = payload.substr(0, payload.find('.'));
    EXPECT_FALSE(ts.verify("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + payload + "."));
}

TEST(Tokens, TamperedOrMalformedTokensAreRefused) {
    TokenService ts(kSecret, 3600);
    auto t = ts.issue("u1", "customer").token;
    auto tampered = t;
    tampered[tampered.find('.') + 3] ^= 1;
    EXPECT_FALSE(ts.verify(tampered));
    EXPECT_FALSE(ts.verify(""));
    EXPECT_FALSE(ts.verify("a.b"));
    EXPECT_FALSE(ts.verify("not a token at all"));
    EXPECT_FALSE(ts.verify(t + "x"));
}

TEST(Tokens, ClaimsAreSubRoleAndWholeSecondIatExp) {
    TokenService ts(kSecret, 7200);
    auto token = ts.issue("user-9", "customer").token;
    auto first = token.find('.'), second = token.find('.', first + 1);
    std::istringstream in(token.substr(first + 1, second - first - 1));
    Poco::Base64Decoder decoder(in, Poco::BASE64_URL_ENCODING | Poco::BASE64_NO_PADDING);
    std::string payload((std::istreambuf_iterator<char>(decoder)), std::istreambuf_iterator<char>());
    auto claims = nlohmann::json::parse(payload);
    EXPECT_EQ(claims["sub"], "user-9");
    EXPECT_EQ(claims["role"], "customer");
    ASSERT_TRUE(claims["iat"].is_number_integer()) << payload;
    ASSERT_TRUE(claims["exp"].is_number_integer()) << payload;
    EXPECT_EQ(claims["exp"].get<int64_t>() - claims["iat"].get<int64_t>(), 7200);
    EXPECT_NEAR(static_cast<double>(claims["iat"].get<int64_t>()), static_cast<double>(std::time(nullptr)), 5);
}
