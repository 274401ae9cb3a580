// The host's cache of oms.resolve_caller answers, across hosts on one
// database: a role change or a deletion made through one host reaches the
// others' caches through LISTEN/NOTIFY within a second; a lost listener
// connection flushes the cache and comes back; a change made behind the
// application's back (SQL, no NOTIFY) is bounded by OMS_CALLER_CACHE_TTL.
//
// The probe is an admin-only route on an account that does not exist:
//   404 → the host took the caller for an admin, 403 → for a customer,
//   401 → for nobody (the account is gone). It never changes anything, and
// its answer depends only on the host's idea of the caller.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <sstream>
#include <thread>

#include "shop.hpp"

using namespace omstest;
using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kNobody = "00000000-0000-4000-8000-000000000000";

std::map<std::string, std::string> users_env(std::map<std::string, std::string> extra = {}) {
    std::map<std::string, std::string> env = {{"OMS_PLUGIN_DIR", env_or_fail("OMS_PLUGIN_BUILD_DIR")},
                                              {"OMS_PLUGINS", "users"}};
    for (auto& [k, v] : extra) env[k] = v;
    return env;
}

int probe(int port, const std::string& token) {
    return post(port, "/users/" + kNobody + "/role", {{"role", "customer"}}, token).status;
}

// A sample of GET /metrics without labels; nullopt when the host does not export it.
std::optional<double> metric(int port, const std::string& name) {
    auto r = http_get(port, "/metrics");
    std::istringstream in(r.body);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
    return std::nullopt;
}
double counter(int port, const std::string& name) { return metric(port, name).value_or(-1); }

// Polls `done` every 5 ms; the time it took, or nullopt after `timeout`.
std::optional<std::chrono::milliseconds> time_until(const std::function<bool()>& done,
                                                    std::chrono::milliseconds timeout) {
    auto start = Clock::now();
    while (Clock::now() - start < timeout) {
        if (done()) return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
        std::this_thread::sleep_for(5ms);
    }
    return std::nullopt;
}

void report(const std::string& what, std::chrono::milliseconds took) {
    std::printf("[ measured ] %s: %lld ms\n", what.c_str(), static_cast<long long>(took.count()));
    ::testing::Test::RecordProperty(what, std::to_string(took.count()) + " ms");
}

}  // namespace

class CallerCache : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        db_ = new TestDatabase();
        // A and B cache for a minute, so that what the tests see within a
        // second can only be an invalidation or a flush, never an expiry.
        a_ = start_host(*db_, users_env({{"OMS_CALLER_CACHE_TTL", "60"}})).release();
        b_ = start_host(*db_, users_env({{"OMS_CALLER_CACHE_TTL", "60"}})).release();
        c_ = start_host(*db_, users_env({{"OMS_CALLER_CACHE_TTL", "1"}})).release();
        if (!a_ || !b_ || !c_) return;
        std::string pw = "Cache-Admin-Pass-1";
        std::string email = unique("cache-admin") + "@example.com";
        auto r = HostProcess::run({"users", "create-admin", "--email", email, "--name", "Cache Admin"},
                                  host_env(*db_, users_env({{"OMS_ADMIN_PASSWORD", pw}})), 30s);
        ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
        auto login = post(a_->port(), "/users/login", {{"email", email}, {"password", pw}});
        ASSERT_EQ(login.status, 200) << login;
        admin_token_ = login.json()["token"];
        admin_id_ = login.json()["user"]["id"];
    }
    static void TearDownTestSuite() {
        delete a_;
        delete b_;
        delete c_;
        a_ = b_ = c_ = nullptr;
        delete db_;
        db_ = nullptr;
    }
    void SetUp() override {
        ASSERT_TRUE(a_ && b_ && c_) << "a host did not start";
        ASSERT_FALSE(admin_token_.empty());
        for (HostProcess* h : {a_, b_, c_})
            ASSERT_TRUE(time_until([&] { return counter(h->port(), "oms_caller_cache_listener_connected") == 1; }, 10s))
                << "the listener of the host on port " << h->port() << " is not connected";
    }

    static int a() { return a_->port(); }
    static int b() { return b_->port(); }
    static int c() { return c_->port(); }

    static HttpResponse set_role(int port, const std::string& id, const std::string& role) {
        return post(port, "/users/" + id + "/role", {{"role", role}}, admin_token_);
    }

    static inline TestDatabase* db_ = nullptr;
    static inline HostProcess *a_ = nullptr, *b_ = nullptr, *c_ = nullptr;
    static inline std::string admin_token_, admin_id_;
};

// (a) A customer's token is cached on B; an admin promotes them through A;
// B lets them through admin routes within a second, and stops again within a
// second of the demotion.
TEST_F(CallerCache, RoleChangeThroughOneHostReachesTheOtherWithinASecond) {
    User u = sign_up(a(), "promoted");
    ASSERT_EQ(probe(b(), u.token), 403);
    double hits = counter(b(), "oms_caller_cache_hits_total");
    ASSERT_EQ(probe(b(), u.token), 403);
    EXPECT_GT(counter(b(), "oms_caller_cache_hits_total"), hits) << "B did not answer from its cache";

    auto promoted = set_role(a(), u.id, "admin");
    ASSERT_EQ(promoted.status, 200) << promoted;
    EXPECT_EQ(promoted.json()["role"], "admin") << promoted;
    auto took = time_until([&] { return probe(b(), u.token) == 404; }, 5s);
    ASSERT_TRUE(took) << "host B still treats the promoted user as a customer after 5 s";
    report("promotion seen on the other host", *took);
    EXPECT_LT(*took, 1000ms);

    auto demoted = set_role(a(), u.id, "customer");
    ASSERT_EQ(demoted.status, 200) << demoted;
    EXPECT_EQ(demoted.json()["role"], "customer") << demoted;
    took = time_until([&] { return probe(b(), u.token) == 403; }, 5s);
    ASSERT_TRUE(took) << "host B still treats the demoted user as an admin after 5 s";
    report("demotion seen on the other host", *took);
    EXPECT_LT(*took, 1000ms);
    EXPECT_EQ(probe(a(), u.token), 403);  // and on the host that made the change
}

// (b) A deleted account's token is refused on B within a second, and from
// then on from B's cache (a negative answer costs no round trip either).
TEST_F(CallerCache, DeletedAccountIsRefusedOnTheOtherHostWithinASecond) {
    User u = sign_up(a(), "deleted");
    ASSERT_EQ(probe(b(), u.token), 403);
    ASSERT_EQ(probe(b(), u.token), 403);

    auto deleted = http_request(a(), "DELETE", "/users/" + u.id, {}, with_auth(admin_token_));
    ASSERT_EQ(deleted.status, 204) << deleted;
    auto took = time_until([&] { return probe(b(), u.token) == 401; }, 5s);
    ASSERT_TRUE(took) << "host B still accepts the deleted account's token after 5 s";
    report("deletion seen on the other host", *took);
    EXPECT_LT(*took, 1000ms);

    double misses = counter(b(), "oms_caller_cache_misses_total");
    double hits = counter(b(), "oms_caller_cache_hits_total");
    for (int i = 0; i < 3; ++i) EXPECT_EQ(probe(b(), u.token), 401);
    EXPECT_EQ(counter(b(), "oms_caller_cache_misses_total"), misses) << "a gone account was looked up again";
    EXPECT_GE(counter(b(), "oms_caller_cache_hits_total"), hits + 3);
    EXPECT_EQ(get(b(), "/users/me", u.token).status, 401);
}

// (c) Killing B's listener connection flushes B's cache and B listens again;
// a role changed in SQL meanwhile (no NOTIFY) is what B answers afterwards.
TEST_F(CallerCache, LostListenerConnectionFlushesTheCacheAndReconnects) {
    User u = sign_up(a(), "flushed");
    ASSERT_EQ(probe(b(), u.token), 403);
    ASSERT_EQ(probe(b(), u.token), 403);  // cached on B
    double flushes = counter(b(), "oms_caller_cache_flushes_total");
    ASSERT_GE(flushes, 0) << "B exports no oms_caller_cache_flushes_total";

    std::string name = "oms-listener/" + std::to_string(b_->pid());
    auto killed = db_->query("SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1",
                             {name});
    ASSERT_EQ(killed.size(), 1u) << "no backend with application_name " << name << ": " << killed;
    EXPECT_EQ(killed[0]["ok"], "t");
    auto killed_at = Clock::now();
    db_->query("UPDATE users SET role = 'admin' WHERE id = $1::uuid", {u.id});  // no NOTIFY

    auto flushed = time_until([&] { return counter(b(), "oms_caller_cache_flushes_total") > flushes; }, 5s);
    ASSERT_TRUE(flushed) << "B's flush counter did not rise";
    report("listener loss to flush", *flushed);
    auto back = time_until([&] { return counter(b(), "oms_caller_cache_listener_connected") == 1; }, 10s);
    ASSERT_TRUE(back) << "B's listener did not reconnect";
    report("listener loss to LISTEN again", std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed_at));
    EXPECT_EQ(probe(b(), u.token), 404) << "B kept the role it had cached before the flush";

    // And the cache works again after the reconnection: a hit, then invalidations arrive.
    double hits = counter(b(), "oms_caller_cache_hits_total");
    EXPECT_EQ(probe(b(), u.token), 404);
    EXPECT_GT(counter(b(), "oms_caller_cache_hits_total"), hits);
    ASSERT_EQ(set_role(a(), u.id, "customer").status, 200);
    auto took = time_until([&] { return probe(b(), u.token) == 403; }, 5s);
    ASSERT_TRUE(took) << "B misses invalidations after reconnecting";
    EXPECT_LT(*took, 1000ms);
}

// (d) A change made without a NOTIFY is seen when the entry expires: within
// about a second on C (OMS_CALLER_CACHE_TTL=1), while B (60 s) still answers
// from its cache — that is what the TTL is for.
TEST_F(CallerCache, TtlBoundsAChangeMadeWithoutNotify) {
    User u = sign_up(a(), "ttl");
    ASSERT_EQ(probe(c(), u.token), 403);
    ASSERT_EQ(probe(b(), u.token), 403);
    double hits = counter(c(), "oms_caller_cache_hits_total");
    ASSERT_EQ(probe(c(), u.token), 403);
    EXPECT_GT(counter(c(), "oms_caller_cache_hits_total"), hits) << "C did not answer from its cache";

    db_->query("UPDATE users SET role = 'admin' WHERE id = $1::uuid", {u.id});  // no NOTIFY
    auto took = time_until([&] { return probe(c(), u.token) == 404; }, 5s);
    ASSERT_TRUE(took) << "C did not see the change after 5 s";
    report("change without NOTIFY seen with a 1 s TTL", *took);
    EXPECT_LT(*took, 2000ms);
    EXPECT_EQ(probe(b(), u.token), 403) << "B (60 s TTL) was expected to still answer from its cache";
}

// OMS_CALLER_CACHE_TTL=0: no cache, no listener, every request asks the service.
TEST_F(CallerCache, TtlZeroTurnsTheCacheOffAndBadValuesRefuseToStart) {
    auto off = start_host(*db_, users_env({{"OMS_CALLER_CACHE_TTL", "0"}}));
    ASSERT_NE(off, nullptr);
    User u = sign_up(off->port(), "uncached");
    EXPECT_EQ(probe(off->port(), u.token), 403);
    EXPECT_FALSE(metric(off->port(), "oms_caller_cache_hits_total").has_value());
    auto listeners = db_->query("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1",
                                {"oms-listener/" + std::to_string(off->pid())});
    EXPECT_EQ(listeners[0]["n"], "0");
    db_->query("UPDATE users SET role = 'admin' WHERE id = $1::uuid", {u.id});
    EXPECT_EQ(probe(off->port(), u.token), 404);  // at once

    for (auto [key, value] : {std::pair{"OMS_CALLER_CACHE_TTL", "soon"}, std::pair{"OMS_CALLER_CACHE_TTL", "-1"},
                              std::pair{"OMS_CALLER_CACHE_SIZE", "0"}}) {
        auto r = HostProcess::run({"serve"}, host_env(*db_, users_env({{key, value}})), 30s);
        EXPECT_EQ(r.exit_code, 2) << key << "=" << value << ": " << r.err;
        EXPECT_NE(r.err.find(key), std::string::npos) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
}
