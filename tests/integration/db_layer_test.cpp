// The host's database layer against a real PostgreSQL: a transaction's BEGIN
// travels with its first statement (one libpq pipeline), so what runs between
// begin() and commit()/rollback() must still be exactly one transaction.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <map>

#include "db.hpp"
#include "test_db.hpp"

using namespace omstest;
using oms::host::Database;
using oms::host::DbError;

namespace {

Database::Options options(const TestDatabase& db) {
    Database::Options o;
    o.url = db.url();
    o.max_connections = 1;  // every lease is the same connection: state left behind would show
    return o;
}

std::string count(TestDatabase& db, const std::string& table) { return db.scalar("SELECT count(*) FROM " + table); }

}  // namespace

TEST(DbLayer, AScriptAfterBeginBelongsToTheTransaction) {
    TestDatabase tdb;
    Database db(options(tdb));
    {
        auto c = db.acquire();
        c.begin();
        c.exec_script("CREATE TABLE made_in_tx (id int); INSERT INTO made_in_tx VALUES (1)");
        EXPECT_TRUE(c.in_transaction());
        c.rollback();
    }
    EXPECT_EQ(tdb.scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'made_in_tx'"), "0");
    {  // a migration and its ledger row: together or not at all
        auto c = db.acquire();
        c.begin();
        c.exec_script("CREATE TABLE kept (id int)");
        c.query("INSERT INTO kept VALUES ($1)", {std::string("7")});
        c.commit();
    }
    EXPECT_EQ(count(tdb, "kept"), "1");
}

TEST(DbLayer, StatementsAfterBeginCommitOrRollBackTogether) {
    TestDatabase tdb;
    tdb.exec("CREATE TABLE t (id int PRIMARY KEY)");
    Database db(options(tdb));
    for (bool commit : {false, true}) {
        auto c = db.acquire();
        c.begin();
        EXPECT_FALSE(c.in_transaction());  // nothing sent yet
        c.query("INSERT INTO t VALUES ($1)", {std::string("1")});  // BEGIN + PREPARE + EXECUTE, one round trip
        EXPECT_TRUE(c.in_transaction());
        c.query("INSERT INTO t VALUES ($1)", {std::string("2")});
        if (commit) c.commit();
        else c.rollback();
        EXPECT_EQ(count(tdb, "t"), commit ? "2" : "0");
    }
    // The pipelined BEGIN leaves the connection clean: it is reused, never dropped.
    EXPECT_EQ(db.stats().connections_dropped, 0u);
    EXPECT_EQ(db.stats().errors, 0u);
}

TEST(DbLayer, AFailingFirstStatementLeavesTheConnectionUsable) {
    TestDatabase tdb;
    tdb.exec("CREATE TABLE u (id int PRIMARY KEY); INSERT INTO u VALUES (1)");
    Database db(options(tdb));
    {
        auto c = db.acquire();
        c.begin();
        try {
            c.query("INSERT INTO u VALUES ($1)", {std::string("1")});  // prepared fine, fails on execute
            FAIL() << "a duplicate key must fail";
        } catch (const DbError& e) {
            EXPECT_EQ(e.status, 409);
            EXPECT_EQ(e.sqlstate, "23505");
        }
        EXPECT_TRUE(c.in_transaction());  // aborted until rolled back
    }  // the lease rolls back
    {
        auto c = db.acquire();
        c.begin();
        EXPECT_THROW(c.query("SELEC nonsense FROM u"), DbError);  // fails to prepare
    }
    {
        auto c = db.acquire();
        EXPECT_FALSE(c.in_transaction());
        c.begin();
        EXPECT_EQ(c.query("SELECT count(*) FROM u").value(0, 0), "1");
        c.query("INSERT INTO u VALUES ($1)", {std::string("2")});  // the statement prepared above is reused
        c.commit();
    }
    EXPECT_EQ(count(tdb, "u"), "2");
}

TEST(DbLayer, ATransactionThatRunsNothingSendsNothing) {
    TestDatabase tdb;
    Database db(options(tdb));
    auto c = db.acquire();
    c.begin();
    c.commit();  // no BEGIN was sent, so no COMMIT either
    EXPECT_FALSE(c.in_transaction());
    c.begin();
    c.rollback();
    EXPECT_EQ(c.query("SELECT 1").value(0, 0), "1");
}

// Statements queued with query_later travel together, in order, with the
// statement that needs an answer (one libpq pipeline: one round trip).
TEST(DbLayer, QueuedStatementsTravelTogetherInOrder) {
    TestDatabase tdb;
    tdb.exec("CREATE TABLE q (id int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())");
    Database db(options(tdb));
    {
        auto c = db.acquire();
        c.begin();
        auto first = c.query_later("INSERT INTO q (id) VALUES ($1) RETURNING id", {std::string("1")});
        auto second = c.query_later("INSERT INTO q (id) VALUES ($1) RETURNING id", {std::string("2")});
        EXPECT_FALSE(first->arrived);  // nothing sent yet
        EXPECT_FALSE(c.in_transaction());
        auto both = c.query("SELECT count(*) FROM q");  // sends BEGIN, both inserts and this: one pipeline
        EXPECT_TRUE(first->arrived && second->arrived);
        EXPECT_EQ(both.value(0, 0), "2");  // in order: the inserts ran before the count
        EXPECT_EQ(Database::Lease::wait(*second).value(0, 0), "2");
        c.commit();
    }
    EXPECT_EQ(count(tdb, "q"), "2");
    {  // what is still queued at commit is sent with the COMMIT
        auto c = db.acquire();
        c.begin();
        auto pending = c.query_later("INSERT INTO q (id) VALUES ($1)", {std::string("3")});
        c.commit();
        EXPECT_TRUE(pending->arrived);
        EXPECT_FALSE(pending->error);
    }
    EXPECT_EQ(count(tdb, "q"), "3");
    {  // a rolled-back transaction never sends its queue, and says so to whoever waits
        auto c = db.acquire();
        c.begin();
        auto pending = c.query_later("INSERT INTO q (id) VALUES ($1)", {std::string("4")});
        c.rollback();
        EXPECT_THROW(Database::Lease::wait(*pending), DbError);
    }
    EXPECT_EQ(count(tdb, "q"), "3");
    EXPECT_EQ(db.stats().connections_dropped, 0u);
}

// A queued statement that fails aborts the rest of its pipeline and fails the
// commit; the statements after it report the same error.
TEST(DbLayer, AFailingQueuedStatementFailsWhatFollowsAndTheCommit) {
    TestDatabase tdb;
    tdb.exec("CREATE TABLE f (id int PRIMARY KEY); INSERT INTO f VALUES (1)");
    Database db(options(tdb));
    {
        auto c = db.acquire();
        c.begin();
        auto dup = c.query_later("INSERT INTO f VALUES ($1)", {std::string("1")});
        auto after = c.query_later("INSERT INTO f VALUES ($1)", {std::string("2")});
        try {
            c.commit();
            FAIL() << "the commit must fail";
        } catch (const DbError& e) {
            EXPECT_EQ(e.sqlstate, "23505");
        }
        EXPECT_THROW(Database::Lease::wait(*dup), DbError);
        try {
            Database::Lease::wait(*after);
            FAIL() << "a statement after the failure never ran";
        } catch (const DbError& e) {
            EXPECT_EQ(e.sqlstate, "23505");
        }
    }
    EXPECT_EQ(count(tdb, "f"), "1");
    {  // the connection is clean for the next lease
        auto c = db.acquire();
        EXPECT_FALSE(c.in_transaction());
        EXPECT_EQ(c.query("SELECT count(*) FROM f").value(0, 0), "1");
    }
}

// A handler that catches a failed statement and carries on must not get a
// successful commit: PostgreSQL answers COMMIT of an aborted transaction
// with ROLLBACK, and the lease reports it.
TEST(DbLayer, CommitOfAnAbortedTransactionIsAnError) {
    TestDatabase tdb;
    tdb.exec("CREATE TABLE a (id int PRIMARY KEY); INSERT INTO a VALUES (1)");
    Database db(options(tdb));
    auto c = db.acquire();
    c.begin();
    c.query("INSERT INTO a VALUES ($1)", {std::string("2")});
    EXPECT_THROW(c.query("INSERT INTO a VALUES ($1)", {std::string("1")}), DbError);  // caught and ignored...
    try {
        c.commit();
        FAIL() << "COMMIT of an aborted transaction must fail";
    } catch (const DbError& e) {
        EXPECT_EQ(e.code, "transaction_aborted");
    }
    EXPECT_FALSE(c.in_transaction());
    EXPECT_EQ(count(tdb, "a"), "1");  // the row inserted before the failure did not commit
}

// Every pooled connection reads times in UTC and as ISO text, whatever the
// server's or the database's defaults say.
TEST(DbLayer, SessionsRunInUtcWithIsoDatesWhateverTheDefaults) {
    TestDatabase tdb;
    tdb.exec("ALTER DATABASE \"" + tdb.name() + "\" SET DateStyle = 'German, DMY'");
    tdb.exec("ALTER DATABASE \"" + tdb.name() + "\" SET TimeZone = 'Asia/Kolkata'");
    Database db(options(tdb));
    auto c = db.acquire();
    EXPECT_EQ(c.query("SHOW DateStyle").value(0, 0), "ISO, MDY");
    EXPECT_EQ(c.query("SHOW TimeZone").value(0, 0), "UTC");
    EXPECT_EQ(c.query("SELECT '2026-12-03 10:00:00+05:30'::timestamptz::text").value(0, 0), "2026-12-03 04:30:00+00");
}

// Another host's migration changes a column's type under a statement this
// connection prepared (issue 13, item 9). When nothing else of the work ran —
// an autocommitted statement, or the first pipeline of a transaction — it is
// planned afresh and run again, once, unseen by the caller. When another
// statement of the transaction already ran, the failure is a retryable 503
// and the connection is not reused.
TEST(DbLayer, AStatementMadeStaleByAMigrationIsRetriedOnceWhenNothingElseRan) {
    TestDatabase tdb;
    tdb.exec("CREATE TABLE s (a int); INSERT INTO s VALUES (1)");
    Database::Options o = options(tdb);
    o.max_connections = 1;  // every lease gets the one connection, and its plans
    Database db(o);
    auto warm = [&] {
        auto c = db.acquire();
        EXPECT_EQ(c.query("SELECT * FROM s").value(0, 0), "1");  // prepared on this connection
    };
    warm();
    tdb.exec("ALTER TABLE s ALTER COLUMN a TYPE text");
    {
        auto c = db.acquire();  // autocommit
        EXPECT_EQ(c.query("SELECT * FROM s").value(0, 0), "1");
    }
    tdb.exec("ALTER TABLE s ALTER COLUMN a TYPE int USING a::int");
    {
        auto c = db.acquire();
        c.begin();  // the first statement of a transaction
        EXPECT_EQ(c.query("SELECT * FROM s").value(0, 0), "1");
        c.commit();
    }
    EXPECT_EQ(db.stats().connections_dropped, 0u);

    tdb.exec("ALTER TABLE s ALTER COLUMN a TYPE text");
    {
        auto c = db.acquire();
        c.begin();
        EXPECT_EQ(c.query("SELECT 2").value(0, 0), "2");  // another statement ran first
        try {
            c.query("SELECT * FROM s");
            FAIL() << "a stale plan after another statement must fail";
        } catch (const DbError& e) {
            EXPECT_EQ(e.status, 503) << e.what();
            EXPECT_EQ(e.code, "stale_statement") << e.what();
        }
    }
    EXPECT_EQ(db.stats().connections_dropped, 1u);
    auto c = db.acquire();
    EXPECT_EQ(c.query("SELECT * FROM s").value(0, 0), "1");
}

// A partitioned database frees a worker in seconds (issue 13, item 11): every
// pooled connection has TCP keepalives and tcp_user_timeout unless
// DATABASE_URL says otherwise — read back from a real libpq connection.
TEST(DbLayer, ConnectionsHaveKeepalivesAndAUserTimeoutUnlessTheUrlSaysOtherwise) {
    TestDatabase tdb;
    auto effective = [](const std::string& url) {
        std::map<std::string, std::string> out;
        PGconn* c = PQconnectdb(Database::connection_string(url).c_str());
        EXPECT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
        PQconninfoOption* opts = PQconninfo(c);
        for (auto* o = opts; o && o->keyword; ++o)
            if (o->val) out[o->keyword] = o->val;
        PQconninfoFree(opts);
        PQfinish(c);
        return out;
    };
    auto defaults = effective(tdb.url());
    EXPECT_EQ(defaults["keepalives"], "1");
    EXPECT_EQ(defaults["keepalives_idle"], "30");
    EXPECT_EQ(defaults["keepalives_interval"], "10");
    EXPECT_EQ(defaults["keepalives_count"], "3");
    EXPECT_EQ(defaults["tcp_user_timeout"], "30000");
    EXPECT_EQ(defaults["application_name"], "oms-host");
    std::string url = tdb.url() + (tdb.url().find('?') == std::string::npos ? "?" : "&") +
                      "tcp_user_timeout=5000&keepalives_idle=7";
    auto given = effective(url);
    EXPECT_EQ(given["tcp_user_timeout"], "5000");
    EXPECT_EQ(given["keepalives_idle"], "7");
}
