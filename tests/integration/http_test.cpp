// HTTP conventions of the host, through the real server: problem+json errors,
// request ids, keep-alive, body limits, content types, auth, graceful shutdown.
#include <signal.h>

#include <future>
#include <thread>

#include "common.hpp"

using namespace omstest;
using namespace std::chrono_literals;

class Http : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        db_ = new TestDatabase();
        host_ = start_host(*db_, {{"OMS_BODY_LIMIT", "4096"}}).release();
        ASSERT_NE(host_, nullptr);
    }
    static void TearDownTestSuite() {
        delete host_;
        delete db_;
    }
    static int port() { return host_->port(); }
    static std::string token(const std::string& role) {
        auto r = http_post_json(port(), "/probe/token", {{"sub", "user-1"}, {"role", role}});
        EXPECT_EQ(r.status, 200) << r;
        return r.json().at("token").get<std::string>();
    }
    static inline TestDatabase* db_ = nullptr;
    static inline HostProcess* host_ = nullptr;
};

TEST_F(Http, HealthChecksTheDatabaseAndLiveDoesNot) {
    auto r = http_get(port(), "/health");
    ASSERT_EQ(r.status, 200) << r;
    auto j = r.json();
    EXPECT_EQ(j["status"], "ok");
    EXPECT_EQ(j["database"]["status"], "up");
    EXPECT_TRUE(j["database"]["latency_ms"].is_number());
    EXPECT_TRUE(j["uptime_seconds"].is_number());
    EXPECT_FALSE(j["version"].get<std::string>().empty());
    EXPECT_EQ(j["plugins"].size(), 2u) << j;
    auto live = http_get(port(), "/health/live");
    EXPECT_EQ(live.status, 200);
    EXPECT_EQ(live.json()["status"], "ok");
}

TEST_F(Http, UnknownRouteIs404ProblemJson) {
    auto r = http_get(port(), "/no/such/route");
    expect_problem(r, 404, "not_found");
}

TEST_F(Http, WrongMethodIs405WithAllow) {
    auto r = http_request(port(), "DELETE", "/probe/items/1");
    expect_problem(r, 405, "method_not_allowed");
    EXPECT_EQ(r.header("Allow"), "GET") << r;
}

TEST_F(Http, BodyOverTheLimitIs413) {
    std::string big = R"({"name":")" + std::string(8000, 'x') + R"("})";
    auto r = http_request(port(), "POST", "/probe/items", big, {{"Content-Type", "application/json"}});
    expect_problem(r, 413, "body_too_large");
}

TEST_F(Http, WrongContentTypeIs415) {
    auto r = http_request(port(), "POST", "/probe/items", "name=x", {{"Content-Type", "application/x-www-form-urlencoded"}});
    expect_problem(r, 415, "unsupported_media_type");
    auto none = http_request(port(), "POST", "/probe/items", R"({"name":"x"})");
    expect_problem(none, 415, "unsupported_media_type");
    // Parameters on the media type are fine.
    auto ok = http_request(port(), "POST", "/probe/items", R"({"name":"charset-ok"})",
                           {{"Content-Type", "application/json; charset=utf-8"}});
    EXPECT_EQ(ok.status, 201) << ok;
}

TEST_F(Http, MalformedJsonIs400) {
    for (const std::string& body : std::vector<std::string>{"{bad", "[1,2", std::string(100, '[') + std::string(100, ']'), "\"\xff\xfe\""}) {
        auto r = http_request(port(), "POST", "/probe/items", body, {{"Content-Type", "application/json"}});
        expect_problem(r, 400, "malformed_json");
    }
}

TEST_F(Http, ValidationErrorsListTheFields) {
    auto r = http_post_json(port(), "/probe/items", {{"name", 5}});
    expect_problem(r, 400, "validation_failed");
    auto j = r.json();
    ASSERT_TRUE(j["errors"].is_array()) << j;
    EXPECT_EQ(j["errors"][0]["field"], "name");
}

TEST_F(Http, EscapedExceptionIs500WithoutItsMessage) {
    auto r = http_get(port(), "/probe/boom");
    expect_problem(r, 500, "internal_error");
    EXPECT_EQ(r.body.find("secret detail"), std::string::npos) << r;
    // The host keeps serving.
    EXPECT_EQ(http_get(port(), "/health/live").status, 200);
}

TEST_F(Http, RequestIdIsEchoedOrGenerated) {
    auto echoed = http_get(port(), "/health/live", {{"X-Request-Id", "client-chosen-42"}});
    EXPECT_EQ(echoed.header("X-Request-Id"), "client-chosen-42");
    auto a = http_get(port(), "/health/live");
    auto b = http_get(port(), "/health/live");
    EXPECT_EQ(a.header("X-Request-Id").size(), 36u);
    EXPECT_NE(a.header("X-Request-Id"), b.header("X-Request-Id"));
    // A hostile id is replaced, never reflected.
    auto hostile = http_get(port(), "/health/live", {{"X-Request-Id", std::string(500, 'a')}});
    EXPECT_NE(hostile.header("X-Request-Id"), std::string(500, 'a'));
}

TEST_F(Http, PlainHttp11ConnectionsPersist) {
    HttpConnection c(port());
    auto r1 = c.request("GET", "/health/live");
    EXPECT_EQ(r1.status, 200);
    EXPECT_NE(r1.header("Connection"), "Close") << r1;
    EXPECT_FALSE(c.peer_closed(200));
    auto r2 = c.request("GET", "/health");
    EXPECT_EQ(r2.status, 200);
    auto r3 = c.request("GET", "/no/such");  // errors keep the connection too
    EXPECT_EQ(r3.status, 404);
    EXPECT_EQ(c.request("GET", "/health/live").status, 200);
}

TEST_F(Http, ConnectionCloseIsHonoured) {
    HttpConnection c(port());
    auto r = c.request("GET", "/health/live", {}, {{"Connection", "close"}});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Connection"), "Close") << r;
    EXPECT_TRUE(c.peer_closed(2000));
}

TEST_F(Http, Http10ClosesUnlessKeepAliveIsAsked) {
    {
        HttpConnection c(port());
        auto r = c.request("GET", "/health/live", {}, {}, "HTTP/1.0");
        EXPECT_EQ(r.status, 200);
        EXPECT_TRUE(c.peer_closed(2000));
    }
    {
        HttpConnection c(port());
        auto r = c.request("GET", "/health/live", {}, {{"Connection", "keep-alive"}}, "HTTP/1.0");
        EXPECT_EQ(r.status, 200);
        EXPECT_FALSE(c.peer_closed(200));
        EXPECT_EQ(c.request("GET", "/health/live", {}, {{"Connection", "keep-alive"}}, "HTTP/1.0").status, 200);
    }
}

TEST_F(Http, AuthenticatedRoutesAnswer401WithChallenge) {
    auto r = http_get(port(), "/probe/whoami");
    expect_problem(r, 401, "unauthorized");
    EXPECT_EQ(r.header("WWW-Authenticate").rfind("Bearer", 0), 0u) << r;
    auto bad = http_get(port(), "/probe/whoami", {{"Authorization", "Bearer not.a.token"}});
    expect_problem(bad, 401, "unauthorized");
    auto ok = http_get(port(), "/probe/whoami", {{"Authorization", "Bearer " + token("customer")}});
    ASSERT_EQ(ok.status, 200) << ok;
    EXPECT_EQ(ok.json()["user_id"], "user-1");
    EXPECT_EQ(ok.json()["role"], "customer");
}

TEST_F(Http, RoleRoutesAnswer403ToOtherRoles) {
    auto r = http_get(port(), "/probe/admin", {{"Authorization", "Bearer " + token("customer")}});
    expect_problem(r, 403, "forbidden");
    auto ok = http_get(port(), "/probe/admin", {{"Authorization", "Bearer " + token("admin")}});
    EXPECT_EQ(ok.status, 200) << ok;
}

// Its own host: SIGTERM while a request is in flight lets it finish.
TEST(GracefulShutdown, InFlightRequestsCompleteOnSigterm) {
    TestDatabase db;
    auto host = start_host(db);
    ASSERT_NE(host, nullptr);
    int port = host->port();
    auto slow = std::async(std::launch::async, [port] { return http_get(port, "/probe/slow?ms=1500"); });
    std::this_thread::sleep_for(300ms);
    host->signal(SIGTERM);
    auto r = slow.get();
    EXPECT_EQ(r.status, 200) << r;
    EXPECT_EQ(r.json()["slept_ms"], 1500);
    EXPECT_EQ(host->wait_exit(10s), 0) << host->log();
}
