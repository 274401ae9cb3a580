// Request material for bench/run.sh that the shell cannot make quickly:
//
//   bench_fixtures tokens JWT_SECRET         stdin: user ids, one a line
//                                            stdout: "user_id<TAB>token" (HS256, role customer, 1 day)
//   bench_fixtures webhooks WEBHOOK_SECRET   stdin: "gateway_order_id<TAB>amount<TAB>currency"
//                                            stdout: "event_id<TAB>signature<TAB>body", one distinct
//                                            signed payment.captured event per line, as Razorpay sends it
//
// Tokens are issued by the host's own TokenService, so they are exactly what
// POST /users/login hands out; signatures are hex HMAC-SHA256 of the body.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "auth.hpp"

namespace {

std::string hmac_hex(const std::string& key, const std::string& body) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(body.data()),
         body.size(), mac, &len);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
        out += hex[mac[i] >> 4];
        out += hex[mac[i] & 15];
    }
    return out;
}

// "pay_" + 14 characters of [0-9A-Za-z], distinct for every n.
std::string razorpay_id(const char* prefix, unsigned long n) {
    static const char* alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::string id(14, '0');
    for (int i = 13; i >= 0 && n > 0; --i, n /= 62) id[static_cast<size_t>(i)] = alphabet[n % 62];
    return prefix + id;
}

int tokens(const std::string& secret) {
    oms::host::TokenService service(secret, 86400);
    for (std::string id; std::getline(std::cin, id);)
        if (!id.empty()) std::cout << id << '\t' << service.issue(id, "customer").token << '\n';
    return 0;
}

int webhooks(const std::string& secret) {
    unsigned long n = 0;
    for (std::string line; std::getline(std::cin, line);) {
        std::istringstream fields(line);
        std::string order_id, currency;
        long amount = 0;
        if (!(fields >> order_id >> amount >> currency)) continue;
        ++n;
        nlohmann::json payment = {{"id", razorpay_id("pay_", n)}, {"entity", "payment"},  {"amount", amount},
                                  {"currency", currency},         {"status", "captured"}, {"order_id", order_id},
                                  {"method", "upi"},              {"captured", true},     {"created_at", 1700000000}};
        nlohmann::json event = {{"entity", "event"},
                                {"account_id", "acc_BenchAccount01"},
                                {"event", "payment.captured"},
                                {"contains", {"payment"}},
                                {"payload", {{"payment", {{"entity", payment}}}}},
                                {"created_at", 1700000000}};
        std::string body = event.dump();
        std::cout << razorpay_id("evt_", n) << '\t' << hmac_hex(secret, body) << '\t' << body << '\n';
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::ios::sync_with_stdio(false);
    if (argc == 3 && std::string(argv[1]) == "tokens") return tokens(argv[2]);
    if (argc == 3 && std::string(argv[1]) == "webhooks") return webhooks(argv[2]);
    std::fprintf(stderr, "usage: bench_fixtures tokens JWT_SECRET | webhooks WEBHOOK_SECRET (input on stdin)\n");
    return 2;
}
