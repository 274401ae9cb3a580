// The host's PostgreSQL layer: Poco Data's SessionPool owns the connections;
// queries run through libpq on the pooled PGconn as named prepared statements,
// prepared once per connection and reused (Poco's own Statement objects are
// not reused: re-executing one that fails double-frees its result in 1.11).
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace Poco::Data {
class Session;
class SessionPool;
}  // namespace Poco::Data

namespace oms::host {

// A database failure, already classified for HTTP: 503 when the database is
// unreachable or the transaction should be retried, 409/400 for constraint and
// input errors, 500 otherwise. `message` is PostgreSQL's text (for logs only).
struct DbError : std::runtime_error {
    DbError(int status, std::string code, std::string sqlstate, std::string message, bool connection_lost = false)
        : std::runtime_error(message), status(status), code(std::move(code)), sqlstate(std::move(sqlstate)),
          connection_lost(connection_lost) {}
    int status;
    std::string code;
    std::string sqlstate;
    bool connection_lost;
    // What a client may read.
    std::string public_detail() const;
};

class QueryResult {
public:
    explicit QueryResult(PGresult* r) : res_(r) {}
    ~QueryResult() {
        if (res_) PQclear(res_);
    }
    QueryResult(QueryResult&& o) noexcept : res_(std::exchange(o.res_, nullptr)) {}
    QueryResult& operator=(QueryResult&& o) noexcept {
        if (this != &o) {
            if (res_) PQclear(res_);
            res_ = std::exchange(o.res_, nullptr);
        }
        return *this;
    }
    QueryResult(const QueryResult&) = delete;

    int rows() const { return PQntuples(res_); }
    int columns() const { return PQnfields(res_); }
    std::string_view column_name(int c) const { return PQfname(res_, c); }
    bool is_null(int r, int c) const { return PQgetisnull(res_, r, c) != 0; }
    std::string_view value(int r, int c) const {
        return {PQgetvalue(res_, r, c), static_cast<size_t>(PQgetlength(res_, r, c))};
    }
    uint64_t affected() const;

private:
    PGresult* res_;
};

// Text parameters for $1..$n; a nullopt is SQL NULL.
using Params = std::vector<std::optional<std::string>>;

class Database {
public:
    struct Options {
        std::string url;
        int max_connections = 10;
        std::chrono::milliseconds acquire_timeout{5000};
        std::chrono::milliseconds statement_timeout{30000};
        int prepared_per_connection = 512;  // past this, statements run unnamed
    };
    explicit Database(Options options);
    ~Database();

    class Lease;
    // A connection for exclusive use; returned to the pool on destruction
    // (rolled back first if a transaction was left open). Throws DbError(503)
    // when no connection can be had in acquire_timeout.
    Lease acquire();

    struct Stats {
        int max_connections;
        int in_use;
        uint64_t errors;
        uint64_t connections_dropped;
    };
    Stats stats() const;

    // Poco SessionPool's view (for GET /metrics), as last seen by a worker:
    // read from atomics, never from the pool (whose mutex a waiting
    // acquire() may hold), so a reactor thread can read it.
    struct PoolStats {
        int capacity;   // connections the pool may open
        int allocated;  // connections open now
        int used;       // handed out
        int idle;       // open and waiting
    };
    PoolStats pool_stats() const;

    const Options& options() const { return options_; }

    // DATABASE_URL as the keyword=value string the pool connects with: the
    // URL's own settings, then the host's defaults for what it leaves out
    // (connect_timeout, application_name, TCP keepalives, tcp_user_timeout).
    // Throws ConfigError naming the problem.
    static std::string connection_string(const std::string& url);

    struct ConnState;  // prepared statements of one connection (db.cpp)

private:
    // The connection's own state, kept on the PGconn (libpq instance data) and
    // freed with it: a new connection never inherits an old one's, whatever
    // address or backend it gets.
    static ConnState& state_for(PGconn* conn);
    friend class Lease;

    Options options_;
    std::unique_ptr<Poco::Data::SessionPool> pool_;
    std::counting_semaphore<1024> slots_;
    std::atomic<int> in_use_{0};
    std::atomic<uint64_t> errors_{0};
    std::atomic<uint64_t> dropped_{0};
    std::atomic<int> pool_allocated_{0}, pool_idle_{0};
    void note_pool();  // copies the pool's counts into the atomics (worker threads only)
};

// The answer of a statement sent later (Lease::query_later): filled when the
// lease flushes its queue. Shared by the lease and whoever holds the answer.
struct PendingResult {
    PGresult* result = nullptr;       // owned until taken
    std::optional<DbError> error;     // the statement failed, or an earlier one aborted it
    bool arrived = false;
    Database::Lease* lease = nullptr;  // to flush from; null once the lease let go of it
    ~PendingResult() {
        if (result) PQclear(result);
    }
};

class Database::Lease {
public:
    Lease(Database& db, std::unique_ptr<Poco::Data::Session> session, PGconn* conn, ConnState& state);
    Lease(Lease&& o) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();

    // One statement with parameters, prepared once per connection. Whatever
    // is queued (query_later) travels with it in the same round trip.
    QueryResult query(std::string_view sql, Params params = {});
    // A statement queued until something needs an answer: the next query(),
    // wait() on any queued answer, or commit(). Independent statements so
    // cost one round trip together (libpq pipeline mode).
    std::shared_ptr<PendingResult> query_later(std::string_view sql, Params params);
    // Sends the queue (if the answer has not arrived) and hands over the answer.
    static QueryResult wait(PendingResult& pending);
    // A script of several statements (simple protocol, no parameters).
    void exec_script(std::string_view sql);

    // BEGIN is not sent on its own: it travels with the transaction's first
    // statements in one pipeline (one round trip instead of two). A
    // transaction that runs no statement sends nothing at all.
    void begin() { begin_pending_ = true; }
    // Sends what is queued and COMMIT in one round trip. Throws DbError when
    // a queued statement failed or PostgreSQL rolled the transaction back
    // (it answers COMMIT of an aborted transaction with ROLLBACK).
    void commit();
    void rollback() noexcept;
    bool in_transaction() const;
    // Closes the connection when the lease ends instead of returning it to the
    // pool: for work that changes session settings (migrations), so nothing
    // it set can reach a request.
    void discard() { discard_ = true; }
    // For a plugin's transaction: whatever its statements changed in the
    // session (settings, session advisory locks, temp tables, LISTEN) is
    // undone when it ends — by RESET ALL and friends queued with the COMMIT,
    // by the ROLLBACK itself plus pg_advisory_unlock_all() (the one thing a
    // rollback keeps). Not for autocommitted (read-only) work, where nothing ends.
    void reset_session_at_end() { reset_session_ = true; }

private:
    struct Queued {
        std::string sql;
        std::string name;  // prepared statement name; empty: unnamed
        bool prepare = false;
        Params params;
        std::shared_ptr<PendingResult> answer;
    };

    [[noreturn]] void fail(PGresult* res);
    Queued make_queued(std::string_view sql, Params params);
    // Sends [BEGIN], the queue and, when `finish` is given, that statement
    // (COMMIT) in one pipeline and distributes the answers. Returns the
    // finishing statement's result (null when none was given).
    PGresult* flush(const char* finish = nullptr);
    void drop_queue(const char* why) noexcept;
    void note_failure(const DbError& e);

    bool begin_pending_ = false;
    bool discard_ = false;
    bool reset_session_ = false;
    bool retried_stale_ = false;  // a stale statement is retried once per lease
    // After a stale statement (another host's migration changed a table under
    // a prepared plan): forgets every plan of the connection, server side too.
    void forget_plans();
    std::vector<Queued> queue_;

    Database* db_;
    std::unique_ptr<Poco::Data::Session> session_;
    PGconn* conn_;
    ConnState* state_;
};

// Converts a libpq result status / SQLSTATE into a DbError.
DbError classify_db_error(PGconn* conn, const PGresult* res);

}  // namespace oms::host
