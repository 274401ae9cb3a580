// Migrations: the ledger, two hosts starting together on an empty database,
// `migrate status`, and a changed migration stopping start-up by name.
#include <thread>

#include "common.hpp"

using namespace omstest;
using namespace std::chrono_literals;

TEST(Migrations, TwoHostsStartingTogetherBothComeUpAndEachMigrationRunsOnce) {
    TestDatabase db;
    // Both race for the advisory lock on an empty database.
    HostProcess a({"serve"}, host_env(db));
    HostProcess b({"serve"}, host_env(db));
    ASSERT_TRUE(a.wait_ready()) << a.log();
    ASSERT_TRUE(b.wait_ready()) << b.log();
    EXPECT_EQ(http_get(a.port(), "/health").status, 200);
    EXPECT_EQ(http_get(b.port(), "/health").status, 200);
    auto rows = db.query("SELECT plugin, version, count(*) OVER (PARTITION BY plugin, version) AS n "
                         "FROM oms_migrations ORDER BY plugin, version");
    ASSERT_EQ(rows.size(), 7u) << rows;  // the host's six, the probe's one
    for (const auto& r : rows) EXPECT_EQ(r["n"], "1") << rows;
    EXPECT_EQ(db.scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'probe_items'"), "1");
}

TEST(Migrations, StatusReportsPendingThenApplied) {
    TestDatabase db;
    auto env = host_env(db);
    auto pending = HostProcess::run({"migrate", "status"}, env);
    EXPECT_EQ(pending.exit_code, 3) << pending.out << pending.err;
    EXPECT_NE(pending.out.find("pending"), std::string::npos) << pending.out;

    auto migrate = HostProcess::run({"migrate"}, env);
    EXPECT_EQ(migrate.exit_code, 0) << migrate.err;
    EXPECT_NE(migrate.out.find("applied 7 migrations"), std::string::npos) << migrate.out;
    auto again = HostProcess::run({"migrate"}, env);
    EXPECT_EQ(again.exit_code, 0) << again.err;
    EXPECT_NE(again.out.find("up to date"), std::string::npos) << again.out;

    auto status = HostProcess::run({"migrate", "status"}, env);
    EXPECT_EQ(status.exit_code, 0) << status.out << status.err;
    EXPECT_EQ(status.out.find("pending"), std::string::npos) << status.out;
    // Recorded with a checksum and a duration.
    EXPECT_EQ(db.scalar("SELECT count(*) FROM oms_migrations WHERE length(checksum) = 64 AND execution_ms >= 0"), "7");
}

TEST(Migrations, AChangedAppliedMigrationStopsStartUpNamingTheFile) {
    TestDatabase db;
    auto env = host_env(db);
    ASSERT_EQ(HostProcess::run({"migrate"}, env).exit_code, 0);
    // What the ledger sees when someone edits an applied file: another checksum.
    db.exec("UPDATE oms_migrations SET checksum = repeat('0', 64) WHERE plugin = 'probe' AND version = 1");

    auto serve = HostProcess::run({"serve"}, env, 30s);
    EXPECT_NE(serve.exit_code, 0);
    EXPECT_FALSE(serve.timed_out);
    EXPECT_NE(serve.err.find("0001_probe_tables.sql"), std::string::npos) << serve.err;
    EXPECT_NE(serve.err.find("changed"), std::string::npos) << serve.err;

    auto status = HostProcess::run({"migrate", "status"}, env);
    EXPECT_EQ(status.exit_code, 3);
    EXPECT_NE(status.out.find("changed"), std::string::npos) << status.out;
}

TEST(Migrations, AutoMigrateOffRefusesToServeAPendingDatabase) {
    TestDatabase db;
    auto serve = HostProcess::run({"serve"}, host_env(db, {{"OMS_AUTO_MIGRATE", "false"}}), 30s);
    EXPECT_NE(serve.exit_code, 0) << serve.err;
    EXPECT_NE(serve.err.find("migrate"), std::string::npos) << serve.err;
}

// Migrations run without the pool's statement timeout (a big index would
// otherwise never be built and the host never start), while requests keep it.
TEST(Migrations, AMigrationLongerThanTheStatementTimeoutCompletes) {
    TestDatabase db;
    auto env = host_env(db);
    env["OMS_PLUGIN_DIR"] = env_or_fail("OMS_SLOW_PLUGIN_DIR");
    env["OMS_DB_STATEMENT_TIMEOUT_MS"] = "200";
    auto migrate = HostProcess::run({"migrate"}, env, 30s);
    EXPECT_EQ(migrate.exit_code, 0) << migrate.out << migrate.err;
    EXPECT_EQ(db.scalar("SELECT to_regclass('slow_migration_done') IS NOT NULL"), "t");
}

// A plugin's command on a database that was never migrated says what to do.
TEST(Migrations, APluginCommandOnAnUnmigratedDatabaseSaysToMigrate) {
    TestDatabase db;
    auto r = HostProcess::run({"probe", "count", "--prefix", "a"}, host_env(db), 30s);
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("oms-host migrate"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("does not exist"), std::string::npos) << r.err;
}
