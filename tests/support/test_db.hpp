// A throwaway PostgreSQL database per test (libpq directly).
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

struct pg_conn;

namespace omstest {

class TestDatabase {
public:
    // Server to create databases on: env DATABASE_URL if set, else the
    // content of $OMS_TEST_PG_DIR/url (written by tests/pg_fixture.sh).
    // Throws std::runtime_error with a clear message if neither is available.
    static std::string base_url();

    // Replaces the database name of a libpq URL (keeps user, password,
    // host, port and query string). Key=value conninfo strings get a
    // trailing " dbname=<db>".
    static std::string with_database(std::string_view url, std::string_view db);

    // CREATE DATABASE oms_test_<pid>_<counter>_<random> on base_url()'s server.
    TestDatabase();
    // DROP DATABASE ... WITH (FORCE); errors are printed, never thrown.
    ~TestDatabase();
    TestDatabase(const TestDatabase&) = delete;
    TestDatabase& operator=(const TestDatabase&) = delete;

    const std::string& name() const { return name_; }
    const std::string& url() const { return url_; }  // URL of the new database

    // Runs SQL (several ;-separated statements allowed) on the new database
    // over one kept connection (reconnected if it broke). Throws
    // std::runtime_error with the server's message on error.
    // query(): rows of the last statement as [{column: text|null}, ...].
    nlohmann::json query(std::string_view sql);
    // With $1..$n parameters (text; nullopt is NULL). One statement only.
    nlohmann::json query(std::string_view sql, const std::vector<std::optional<std::string>>& params);
    void exec(std::string_view sql);
    // First column of the first row; "" if there is no row (or it is NULL).
    std::string scalar(std::string_view sql);

    // Closes the kept connection (e.g. before restarting the server).
    void disconnect();

private:
    struct Table {
        std::vector<std::string> columns;
        std::vector<std::vector<std::optional<std::string>>> rows;
    };
    Table run(std::string_view sql, const std::vector<std::optional<std::string>>* params);
    static nlohmann::json to_json(const Table& t);

    std::string name_;
    std::string url_;
    std::string admin_url_;
    std::mutex mu_;
    pg_conn* conn_ = nullptr;
};

}  // namespace omstest
