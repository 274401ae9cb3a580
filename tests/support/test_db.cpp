#include "test_db.hpp"

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace omstest {
namespace {

std::atomic<unsigned> g_counter{0};

std::string trim(std::string s) {
    const char* ws = " \t\r\n";
    auto b = s.find_first_not_of(ws);
    if (b == std::string::npos) return {};
    auto e = s.find_last_not_of(ws);
    return s.substr(b, e - b + 1);
}

std::string snippet(std::string_view s, std::size_t max = 300) {
    if (s.size() <= max) return std::string(s);
    return std::string(s.substr(0, max)) + "...";
}

// Hides the password of a URL in error messages.
std::string redact(const std::string& url) {
    auto scheme = url.find("://");
    if (scheme == std::string::npos) return url;
    auto at = url.find('@', scheme + 3);
    auto colon = url.find(':', scheme + 3);
    if (at == std::string::npos || colon == std::string::npos || colon > at) return url;
    return url.substr(0, colon + 1) + "***" + url.substr(at);
}

void quiet_notices(void*, const char*) {}

PGconn* connect(const std::string& url) {
    const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
    const char* vals[] = {url.c_str(), "10", "oms-test", nullptr};
    PGconn* c = PQconnectdbParams(keys, vals, 1);
    if (!c) throw std::runtime_error("TestDatabase: out of memory connecting to " + redact(url));
    if (PQstatus(c) != CONNECTION_OK) {
        std::string msg = trim(PQerrorMessage(c));
        PQfinish(c);
        throw std::runtime_error("TestDatabase: cannot connect to " + redact(url) + ": " + msg);
    }
    PQsetNoticeProcessor(c, quiet_notices, nullptr);
    return c;
}

struct ConnGuard {
    PGconn* c;
    ~ConnGuard() {
        if (c) PQfinish(c);
    }
};

struct ResultGuard {
    PGresult* r;
    ~ResultGuard() {
        if (r) PQclear(r);
    }
};

std::string sqlstate(const PGresult* r) {
    const char* s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    return s ? s : "";
}

std::string error_of(PGconn* c, const PGresult* r) {
    std::string m = r ? PQresultErrorMessage(r) : "";
    if (m.empty()) m = PQerrorMessage(c);
    return trim(m);
}

// Simple-protocol statement on an admin connection, with retries for the
// "source database is being accessed by other users" race of CREATE DATABASE.
void admin_exec(PGconn* c, const std::string& sql) {
    for (int attempt = 0;; ++attempt) {
        ResultGuard r{PQexec(c, sql.c_str())};
        auto st = r.r ? PQresultStatus(r.r) : PGRES_FATAL_ERROR;
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return;
        if (sqlstate(r.r) == "55006" && attempt < 50) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50 + 10 * attempt));
            continue;
        }
        throw std::runtime_error("TestDatabase: `" + sql + "` failed: " + error_of(c, r.r));
    }
}

std::string read_url_file(const std::string& dir) {
    const std::string path = dir + "/url";
    std::ifstream f(path);
    if (!f)
        throw std::runtime_error("TestDatabase: " + path +
                                 " does not exist: the PostgreSQL fixture (tests/pg_fixture.sh start " + dir +
                                 ") has not run. Run the tests through ctest, or set DATABASE_URL.");
    std::stringstream ss;
    ss << f.rdbuf();
    std::string url = trim(ss.str());
    if (url.empty()) throw std::runtime_error("TestDatabase: " + path + " is empty");
    return url;
}

}  // namespace

std::string TestDatabase::base_url() {
    if (const char* u = std::getenv("DATABASE_URL"); u && *u) return trim(u);
    if (const char* d = std::getenv("OMS_TEST_PG_DIR"); d && *d) return read_url_file(d);
    throw std::runtime_error(
        "TestDatabase: no PostgreSQL server: neither DATABASE_URL nor OMS_TEST_PG_DIR is set. Run the tests "
        "through ctest (its fixture starts a private cluster and sets OMS_TEST_PG_DIR), or set DATABASE_URL "
        "to a server where this user may CREATE DATABASE.");
}

std::string TestDatabase::with_database(std::string_view url, std::string_view db) {
    auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) return std::string(url) + " dbname=" + std::string(db);
    std::string_view scheme = url.substr(0, scheme_end);
    std::string_view rest = url.substr(scheme_end + 3);
    auto q = rest.find('?');
    std::string_view pre = rest.substr(0, q);
    std::string_view query = q == std::string_view::npos ? std::string_view{} : rest.substr(q);
    auto at = pre.rfind('@');
    auto slash = pre.find('/', at == std::string_view::npos ? 0 : at + 1);
    std::string_view authority = pre.substr(0, slash);
    std::string out;
    out.append(scheme).append("://").append(authority).append("/").append(db).append(query);
    return out;
}

TestDatabase::TestDatabase() {
    const std::string base = base_url();
    std::random_device rd;
    char rnd[16];
    std::snprintf(rnd, sizeof rnd, "%06x", static_cast<unsigned>(rd() & 0xffffff));
    name_ = "oms_test_" + std::to_string(::getpid()) + "_" + std::to_string(g_counter.fetch_add(1)) + "_" + rnd;
    url_ = with_database(base, name_);
    admin_url_ = base;
    ConnGuard admin{connect(admin_url_)};
    admin_exec(admin.c, "CREATE DATABASE \"" + name_ + "\"");
}

TestDatabase::~TestDatabase() {
    disconnect();
    try {
        ConnGuard admin{connect(admin_url_)};
        admin_exec(admin.c, "DROP DATABASE IF EXISTS \"" + name_ + "\" WITH (FORCE)");
    } catch (const std::exception& e) {
        std::cerr << "[TestDatabase] could not drop " << name_ << ": " << e.what() << std::endl;
    }
}

void TestDatabase::disconnect() {
    std::lock_guard<std::mutex> lock(mu_);
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
}

TestDatabase::Table TestDatabase::run(std::string_view sql_view, const std::vector<std::optional<std::string>>* params) {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string sql(sql_view);
    std::vector<const char*> values;
    if (params) {
        for (const auto& p : *params) values.push_back(p ? p->c_str() : nullptr);
    }

    PGresult* res = nullptr;
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (conn_ && PQstatus(conn_) != CONNECTION_OK) {
            PQfinish(conn_);
            conn_ = nullptr;
        }
        if (!conn_) conn_ = connect(url_);
        res = params ? PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                                    nullptr, nullptr, 0)
                     : PQexec(conn_, sql.c_str());
        // A connection that died under us (server restarted): reconnect and retry once.
        if (PQstatus(conn_) == CONNECTION_BAD && attempt == 0) {
            if (res) PQclear(res);
            res = nullptr;
            continue;
        }
        break;
    }
    ResultGuard guard{res};
    const auto st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    Table t;
    if (st == PGRES_COMMAND_OK || st == PGRES_EMPTY_QUERY) return t;
    if (st != PGRES_TUPLES_OK)
        throw std::runtime_error("TestDatabase(" + name_ + "): " + error_of(conn_, res) + "\n  in SQL: " +
                                 snippet(sql));
    const int nrows = PQntuples(res), ncols = PQnfields(res);
    for (int j = 0; j < ncols; ++j) t.columns.emplace_back(PQfname(res, j));
    t.rows.reserve(static_cast<std::size_t>(nrows));
    for (int i = 0; i < nrows; ++i) {
        auto& row = t.rows.emplace_back();
        row.reserve(static_cast<std::size_t>(ncols));
        for (int j = 0; j < ncols; ++j) {
            if (PQgetisnull(res, i, j))
                row.emplace_back(std::nullopt);
            else
                row.emplace_back(std::string(PQgetvalue(res, i, j), static_cast<std::size_t>(PQgetlength(res, i, j))));
        }
    }
    return t;
}

nlohmann::json TestDatabase::to_json(const Table& t) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& r : t.rows) {
        nlohmann::json row = nlohmann::json::object();
        for (std::size_t j = 0; j < t.columns.size(); ++j) {
            if (r[j])
                row[t.columns[j]] = *r[j];
            else
                row[t.columns[j]] = nullptr;
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

nlohmann::json TestDatabase::query(std::string_view sql) { return to_json(run(sql, nullptr)); }

nlohmann::json TestDatabase::query(std::string_view sql, const std::vector<std::optional<std::string>>& params) {
    return to_json(run(sql, &params));
}

void TestDatabase::exec(std::string_view sql) { run(sql, nullptr); }

std::string TestDatabase::scalar(std::string_view sql) {
    Table t = run(sql, nullptr);
    if (t.rows.empty() || t.columns.empty() || !t.rows[0][0]) return {};
    return *t.rows[0][0];
}

}  // namespace omstest
