// Shared set-up for integration tests: a fresh database and a real oms-host
// serving the test plugins on a kernel-chosen port.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <chrono>

#include "host_process.hpp"
#include "http_client.hpp"
#include "test_db.hpp"

namespace omstest {

inline std::string env_or_fail(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) throw std::runtime_error(std::string(name) + " is not set; run this test through ctest");
    return v;
}

inline const std::string kTestJwtSecret = "integration-test-secret-0123456789abcdef";

// The environment a test host runs with: its own database, the test plugins.
inline std::map<std::string, std::string> host_env(const TestDatabase& db,
                                                   std::map<std::string, std::string> extra = {}) {
    std::map<std::string, std::string> env = {
        {"DATABASE_URL", db.url()},
        {"OMS_PLUGIN_DIR", env_or_fail("OMS_TEST_PLUGIN_DIR")},
        {"JWT_SECRET", kTestJwtSecret},
        {"OMS_CONFIG", "/dev/null"},  // never pick up a developer's etc/oms.conf
        {"OMS_DOTENV", "/dev/null"},
        {"LOG_LEVEL", "warn"},
        {"OMS_BIND", "127.0.0.1"},  // tests stay on loopback
        // Tasks (the outbox) are woken by their own commit; these bound the
        // waits of a retry and of a task another host (or a command) stored.
        {"OMS_TASK_POLL_MS", "100"},
        {"OMS_TASK_RETRY_MS", "100"},
        // Every test signs its users up from 127.0.0.1; the users suite tests the bound.
        {"OMS_SIGNUP_MAX_PER_ADDRESS", "1000000"},
    };
    for (auto& [k, v] : extra) env[k] = v;
    return env;
}

// Starts a host and waits until it listens; fails the test with its log if not.
inline std::unique_ptr<HostProcess> start_host(const TestDatabase& db, std::map<std::string, std::string> extra = {},
                                               std::vector<std::string> args = {"serve"}) {
    auto host = std::make_unique<HostProcess>(args, host_env(db, std::move(extra)));
    if (!host->wait_ready()) {
        ADD_FAILURE() << "oms-host did not start; its log:\n" << host->log();
        return nullptr;
    }
    return host;
}

// Decodes base64 (standard or url alphabet), padding optional; nullopt on a bad character.
inline std::optional<std::string> b64_decode(std::string_view in) {
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        int v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '+' || c == '-') v = 62;
        else if (c == '/' || c == '_') v = 63;
        else if (c == '=') break;
        else return std::nullopt;
        acc = (acc << 6) | uint32_t(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(char((acc >> bits) & 0xff));
        }
    }
    return out;
}

// Polls `pred` every 50 ms until it holds or `limit` passed; its last answer.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return pred();
}

inline void expect_problem(const HttpResponse& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r;
    EXPECT_EQ(r.header("Content-Type"), "application/problem+json") << r;
    auto j = r.json();
    EXPECT_EQ(j.value("status", 0), status) << r;
    EXPECT_EQ(j.value("code", ""), code) << r;
    EXPECT_TRUE(j.contains("title")) << r;
    EXPECT_FALSE(j.value("request_id", "").empty()) << r;
    EXPECT_EQ(j.value("request_id", ""), r.header("X-Request-Id")) << r;
}

// 400 validation_failed whose errors name exactly these fields.
inline void expect_validation(const HttpResponse& r, const std::set<std::string>& fields, const std::string& what) {
    SCOPED_TRACE(what);
    ASSERT_EQ(r.status, 400) << r;
    expect_problem(r, 400, "validation_failed");
    auto j = r.json();
    ASSERT_TRUE(j.contains("errors") && j["errors"].is_array()) << r;
    std::set<std::string> got;
    for (auto& e : j["errors"]) {
        ASSERT_TRUE(e.is_object()) << r;
        ASSERT_TRUE(e.contains("field") && e["field"].is_string()) << r;
        EXPECT_TRUE(e.contains("message") && e["message"].is_string() && !e["message"].get<std::string>().empty())
            << r;
        got.insert(e["field"].get<std::string>());
    }
    EXPECT_EQ(got, fields) << r;
}

}  // namespace omstest
