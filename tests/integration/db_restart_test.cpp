// The host survives PostgreSQL going away: requests get 503 (and /health
// says so) while it is down, and it recovers by itself without a restart.
// Runs its own cluster, because restarting the shared one would disturb
// the other suites.
#include <filesystem>
#include <thread>

#include <atomic>
#include <mutex>

#include "common.hpp"
#include "shop.hpp"

using namespace omstest;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

int cluster(const std::string& cmd, const std::string& dir) {
    std::string line = "'" + env_or_fail("OMS_PGCLUSTER") + "' " + cmd + " '" + dir + "'";
    return std::system(line.c_str()) == 0 ? 0 : 1;
}

class DbRestart : public ::testing::Test {
protected:
    void SetUp() override {
        if (std::getenv("DATABASE_URL")) GTEST_SKIP() << "DATABASE_URL points at a server this test cannot restart";
        dir_ = (fs::temp_directory_path() / ("oms-restart-" + std::to_string(::getpid()))).string();
        ASSERT_EQ(cluster("start", dir_), 0);
        ::setenv("OMS_TEST_PG_DIR", dir_.c_str(), 1);  // TestDatabase uses this cluster
        db_ = std::make_unique<TestDatabase>();
        host_ = start_host(*db_);
        ASSERT_NE(host_, nullptr);
    }
    void TearDown() override {
        host_.reset();
        db_.reset();
        if (!dir_.empty()) cluster("stop", dir_);
    }
    int port() const { return host_->port(); }

    std::string dir_;
    std::unique_ptr<TestDatabase> db_;
    std::unique_ptr<HostProcess> host_;
};

// Keeps asking until `want` (or the deadline); returns the last status.
int poll_status(int port, const std::string& path, int want, std::chrono::seconds within) {
    auto deadline = std::chrono::steady_clock::now() + within;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        status = http_get(port, path).status;
        if (status == want) break;
        std::this_thread::sleep_for(100ms);
    }
    return status;
}

}  // namespace

TEST_F(DbRestart, RequestsGet503WhileDownAndSucceedAfterwards) {
    // Warm several pooled connections, so stale ones exist after the restart.
    for (int i = 0; i < 20; ++i) ASSERT_EQ(http_get(port(), "/probe/db").status, 200);
    db_->disconnect();

    ASSERT_EQ(cluster("stop-keep", dir_), 0);
    auto down = http_get(port(), "/probe/db");
    expect_problem(down, 503, "database_unavailable");
    auto health = http_get(port(), "/health");
    EXPECT_EQ(health.status, 503) << health;
    EXPECT_EQ(health.json()["database"]["status"], "down");
    EXPECT_EQ(http_get(port(), "/health/live").status, 200);  // liveness never touches the database

    ASSERT_EQ(cluster("start-keep", dir_), 0);
    EXPECT_EQ(poll_status(port(), "/probe/db", 200, 10s), 200);
    // Every following request succeeds: no stale connection is handed out.
    for (int i = 0; i < 30; ++i) EXPECT_EQ(http_get(port(), "/probe/db").status, 200) << "request " << i;
    EXPECT_EQ(http_get(port(), "/health").status, 200);
}

TEST_F(DbRestart, AFastRestartCostsAtMostTheRequestsThatHitABrokenConnection) {
    for (int i = 0; i < 20; ++i) ASSERT_EQ(http_get(port(), "/probe/db").status, 200);
    db_->disconnect();
    ASSERT_EQ(cluster("restart", dir_), 0);
    int failures = 0, first_ok = -1;
    for (int i = 0; i < 40; ++i) {
        auto r = http_get(port(), "/probe/db");
        if (r.status == 200) {
            if (first_ok < 0) first_ok = i;
        } else {
            expect_problem(r, 503, "database_unavailable");
            EXPECT_LT(first_ok, 0) << "a failure after the host had recovered (request " << i << ")";
            ++failures;
        }
    }
    EXPECT_GE(first_ok, 0);
    EXPECT_LE(failures, 8) << "more failures than pooled connections";
}

// Under concurrent orders through the real plugins, PostgreSQL stops for two
// seconds and comes back: every answer meanwhile is 201 or 503 (never a 500,
// never a hang), /health says 503 while it is down, and the host is placing
// orders again within seconds of the database's return, with no half order.
TEST_F(DbRestart, UnderTrafficEveryAnswerIs201Or503AndTheHostRecoversByItself) {
    PluginDir plugins({"users.so", "inventory.so", "orders.so"});
    std::map<std::string, std::string> env = {{"OMS_PLUGIN_DIR", plugins.path()}, {"OMS_DB_WAIT_SECONDS", "5"}};
    auto shop_host = start_host(*db_, env);
    ASSERT_NE(shop_host, nullptr);
    int port = shop_host->port();
    User admin = sign_up(port, "restart-admin");
    auto role = HostProcess::run({"users", "set-role", admin.email, "admin"}, host_env(*db_, env), 30s);
    ASSERT_EQ(role.exit_code, 0) << role.out << role.err;
    auto product = post(port, "/inventory", {{"sku", unique("RESTART")}, {"name", "Restart"}, {"price", 5}, {"on_hand", 1000000}},
                        admin.token);
    ASSERT_EQ(product.status, 201) << product;
    std::string product_id = product.json()["product_id"];
    User buyer = sign_up(port, "restart-buyer");
    db_->disconnect();

    using Clock = std::chrono::steady_clock;
    struct Answer {
        Clock::time_point at;
        int status;
    };
    std::mutex mu;
    std::vector<Answer> orders, health;
    std::vector<std::string> placed;
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            while (!stop) {
                auto r = post(port, "/orders", {{"items", {{{"product_id", product_id}, {"quantity", 1}}}}}, buyer.token);
                std::lock_guard lock(mu);
                orders.push_back({Clock::now(), r.status});
                if (r.status == 201) placed.push_back(r.json()["id"]);
                else if (r.status != 503) ADD_FAILURE() << r;
                else EXPECT_FALSE(r.header("Retry-After").empty()) << r;
            }
        });
    threads.emplace_back([&] {
        while (!stop) {
            auto r = http_get(port, "/health");
            {
                std::lock_guard lock(mu);
                health.push_back({Clock::now(), r.status});
            }
            std::this_thread::sleep_for(100ms);
        }
    });
    std::this_thread::sleep_for(1s);
    auto down_at = Clock::now();
    ASSERT_EQ(cluster("stop-keep", dir_), 0);
    std::this_thread::sleep_for(2s);
    ASSERT_EQ(cluster("start-keep", dir_), 0);
    auto up_at = Clock::now();
    std::this_thread::sleep_for(4s);
    stop = true;
    for (auto& t : threads) t.join();

    int before = 0, during = 0, after = 0, refused_during = 0;
    Clock::time_point recovered{};
    for (const auto& a : orders) {
        if (a.at < down_at) before += a.status == 201;
        else if (a.at < up_at) during += 1, refused_during += a.status == 503;
        else {
            after += a.status == 201;
            if (a.status == 201 && recovered == Clock::time_point{}) recovered = a.at;
        }
    }
    EXPECT_GT(before, 0);
    EXPECT_GT(refused_during, 0) << "no request saw the database down";
    ASSERT_NE(recovered, Clock::time_point{}) << "no order placed after PostgreSQL came back";
    auto recovery_ms = std::chrono::duration_cast<std::chrono::milliseconds>(recovered - up_at).count();
    EXPECT_LT(recovery_ms, 3000);
    // Once recovered, it stays recovered.
    int failed_late = 0;
    for (const auto& a : orders)
        if (a.at > recovered + 500ms && a.status != 201) ++failed_late;
    EXPECT_EQ(failed_late, 0);
    bool health_down = false;
    for (const auto& h : health)
        if (h.at > down_at && h.at < up_at && h.status == 503) health_down = true;
    EXPECT_TRUE(health_down) << "/health never said 503 while the database was down";
    EXPECT_EQ(health.back().status, 200);

    for (const auto& id : placed)
        EXPECT_EQ(db_->scalar("SELECT count(*) FROM order_items WHERE order_id = '" + id + "'"), "1") << id;
    EXPECT_EQ(db_->scalar("SELECT count(*) FROM orders o WHERE NOT EXISTS "
                          "(SELECT 1 FROM order_items i WHERE i.order_id = o.id)"),
              "0");
    EXPECT_EQ(db_->scalar("SELECT reserved FROM inventory_products WHERE product_id = '" + product_id + "'"),
              db_->scalar("SELECT coalesce(sum(quantity), 0) FROM inventory_reservations WHERE status = 'active'"));
    std::cout << "[ figures  ] orders: " << before << " placed before, " << during << " answered while down ("
              << refused_during << " 503), " << after << " placed after; first order " << recovery_ms
              << " ms after PostgreSQL was back\n";
}
