// The host survives PostgreSQL going away: requests get 503 (and /health
// says so) while it is down, and it recovers by itself without a restart.
// Runs its own cluster, because restarting the shared one would disturb
// the other suites.
#include <filesystem>
#include <thread>

#include "common.hpp"

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
