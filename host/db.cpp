#include "db.hpp"

#include "config.hpp"

#include <Poco/Data/PostgreSQL/Connector.h>
#include <Poco/Data/PostgreSQL/SessionHandle.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/SessionPool.h>
#include <libpq-events.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <set>
#include <cstring>

namespace oms::host {

struct Database::ConnState {
    std::unordered_map<std::string, std::string> statements;  // sql → prepared name
    uint64_t next_id = 0;
};

// Poco's PostgreSQL connector only understands space-separated keyword=value
// pairs (no URLs, no quoting), so any libpq connection string is normalised
// through libpq's own parser first.
std::string Database::connection_string(const std::string& url) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
    if (!opts) {
        std::string why = err ? err : "out of memory";
        if (err) PQfreemem(err);
        while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
        throw ConfigError("DATABASE_URL is not a valid libpq connection string: " + why);
    }
    std::string out;
    std::set<std::string> given;  // keywords the URL sets
    for (auto* o = opts; o->keyword; ++o) {
        if (!o->val || !*o->val) continue;
        std::string_view v = o->val;
        if (v.find_first_of(" \t'\\") != std::string_view::npos) {
            PQconninfoFree(opts);
            throw ConfigError(std::string("DATABASE_URL: the value of '") + o->keyword +
                              "' contains a space, quote or backslash, which the Poco connector cannot pass on");
        }
        given.insert(o->keyword);
        out += o->keyword;
        out += '=';
        out += v;
        out += ' ';
    }
    PQconninfoFree(opts);
    // The host's defaults for what the URL leaves out. A partitioned database
    // must free workers in seconds, not after the kernel's two hours: TCP
    // keepalives for idle connections and a limit on unacknowledged data for
    // busy ones.
    for (const char* d : {"connect_timeout=3", "application_name=oms-host", "keepalives=1", "keepalives_idle=30",
                          "keepalives_interval=10", "keepalives_count=3", "tcp_user_timeout=30000"}) {
        std::string_view kv = d;
        if (!given.count(std::string(kv.substr(0, kv.find('='))))) out.append(d).append(" ");
    }
    out.pop_back();
    return out;
}

namespace {

PGconn* handle_of(Poco::Data::Session& s) {
    auto* h = Poco::AnyCast<Poco::Data::PostgreSQL::SessionHandle*>(s.getProperty("handle"));
    return static_cast<PGconn*>(*h);
}

// A pooled connection whose server went away (PostgreSQL restarted) still
// looks connected until it is read from. Readable-while-idle means the server
// sent an error and/or closed the socket: consume it and look again.
bool looks_alive(PGconn* c) {
    if (PQstatus(c) != CONNECTION_OK) return false;
    pollfd p{PQsocket(c), POLLIN, 0};
    if (p.fd < 0) return false;
    if (poll(&p, 1, 0) > 0) {
        if (!PQconsumeInput(c)) return false;
        if (PQstatus(c) != CONNECTION_OK) return false;
        while (PGnotify* n = PQnotifies(c)) PQfreemem(n);
    }
    return true;
}

}  // namespace

std::string DbError::public_detail() const {
    if (status == 503 && code == "database_unavailable") return "The database is unavailable; try again shortly.";
    if (status == 503) return "The operation conflicted with another; retry it.";
    if (status >= 500) return "A database error occurred.";
    return std::runtime_error::what();
}

uint64_t QueryResult::affected() const {
    const char* n = PQcmdTuples(res_);
    uint64_t v = 0;
    if (n && *n) std::from_chars(n, n + std::strlen(n), v);
    return v;
}

DbError classify_db_error(PGconn* conn, const PGresult* res) {
    // The primary message only: DETAIL lines quote row values ("Failing row
    // contains ..."), which may hold password hashes or personal data.
    const char* primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    std::string message = primary ? primary : "";
    if (const char* constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : nullptr)
        message += std::string(" (constraint ") + constraint + ")";
    if (message.empty() && conn) message = PQerrorMessage(conn);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    const char* st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    std::string state = st ? st : "";
    bool lost = conn && PQstatus(conn) != CONNECTION_OK;
    if (lost || state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03")
        return DbError(503, "database_unavailable", state, message, true);
    if (state == "40001" || state == "40P01") return DbError(503, "transaction_conflict", state, message);
    // A prepared statement whose plan another host's migration made stale
    // ("cached plan must not change result type"), or one that vanished: the
    // lease drops the connection (see Lease::note_failure); the retry works.
    if (state == "0A000" || state == "26000") return DbError(503, "stale_statement", state, message);
    if (state == "57014") return DbError(503, "database_timeout", state, message);
    if (state.rfind("23", 0) == 0) return DbError(409, "conflict", state, message);
    // Bad input that reached a statement: a malformed value, one out of range,
    // or bytes that are not UTF-8 (22021, e.g. a query parameter of %FF).
    if (state == "22P02" || state == "22003" || state == "22007" || state == "22008" || state == "22023" ||
        state == "22001" || state == "22021")
        return DbError(400, "invalid_parameter", state, message);
    return DbError(500, "database_error", state, message);
}

Database::Database(Options options) : options_(std::move(options)), slots_(options_.max_connections) {
    static std::once_flag registered;
    std::call_once(registered, [] { Poco::Data::PostgreSQL::Connector::registerConnector(); });
    pool_ = std::make_unique<Poco::Data::SessionPool>("postgresql", connection_string(options_.url), 1,
                                                      options_.max_connections, 60);
}

Database::~Database() { pool_->shutdown(); }

Database::Stats Database::stats() const {
    return {options_.max_connections, in_use_.load(), errors_.load(), dropped_.load()};
}

Database::PoolStats Database::pool_stats() const {
    return {options_.max_connections, pool_allocated_.load(), in_use_.load(), pool_idle_.load()};
}

void Database::note_pool() {
    pool_allocated_ = pool_->allocated();
    pool_idle_ = pool_->idle();
}

namespace {

// libpq calls this for the connections it was registered on: the ConnState
// lives exactly as long as its PGconn, and a reset connection (a new backend
// behind the same PGconn) starts with none of the old one's statements.
int connection_events(PGEventId event, void* info, void*) {
    PGconn* conn = nullptr;
    if (event == PGEVT_CONNDESTROY) conn = static_cast<PGEventConnDestroy*>(info)->conn;
    else if (event == PGEVT_CONNRESET) conn = static_cast<PGEventConnReset*>(info)->conn;
    else return 1;
    delete static_cast<Database::ConnState*>(PQinstanceData(conn, connection_events));
    PQsetInstanceData(conn, connection_events, nullptr);
    return 1;
}

}  // namespace

Database::ConnState& Database::state_for(PGconn* conn) {
    // A connection is used by one lease at a time: no lock is needed.
    auto* state = static_cast<ConnState*>(PQinstanceData(conn, connection_events));
    if (!state) {
        PQregisterEventProc(conn, connection_events, "oms-connection-state", nullptr);  // 0 if already there
        state = new ConnState();
        if (!PQsetInstanceData(conn, connection_events, state)) {
            delete state;
            throw DbError(500, "internal_error", "", "cannot attach state to a database connection");
        }
    }
    return *state;
}

Database::Lease Database::acquire() {
    if (!slots_.try_acquire_for(options_.acquire_timeout))
        throw DbError(503, "database_busy", "", "no database connection became free in time");
    struct SlotGuard {
        Database* db;
        bool keep = false;
        ~SlotGuard() {
            if (!keep) db->slots_.release();
        }
    } guard{this};

    // Each broken idle connection is found here and dropped; bounded by the pool size.
    for (int attempt = 0; attempt <= options_.max_connections; ++attempt) {
        std::unique_ptr<Poco::Data::Session> session;
        try {
            session = std::make_unique<Poco::Data::Session>(pool_->get());
        } catch (const Poco::Exception& e) {
            ++errors_;
            throw DbError(503, "database_unavailable", "", e.displayText(), true);
        }
        PGconn* conn = handle_of(*session);
        if (!looks_alive(conn)) {
            ++dropped_;
            session->close();  // the pool drops a session that is no longer good
            continue;
        }
        ConnState& state = state_for(conn);
        guard.keep = true;  // from here the lease gives the slot back
        ++in_use_;
        note_pool();
        Lease lease(*this, std::move(session), conn, state);
        if (state.next_id == 0) {  // first use of this connection
            // Pinned whatever the server or database defaults are: times are read as ISO text in UTC.
            lease.exec_script("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET statement_timeout = " +
                              std::to_string(options_.statement_timeout.count()));
            state.next_id = 1;
        }
        return lease;
    }
    throw DbError(503, "database_unavailable", "", "no live database connection", true);
}

Database::Lease::Lease(Database& db, std::unique_ptr<Poco::Data::Session> session, PGconn* conn, ConnState& state)
    : db_(&db), session_(std::move(session)), conn_(conn), state_(&state) {}

Database::Lease::Lease(Lease&& o) noexcept
    : begin_pending_(std::exchange(o.begin_pending_, false)), discard_(o.discard_),
      reset_session_(o.reset_session_), retried_stale_(o.retried_stale_), queue_(std::move(o.queue_)),
      db_(std::exchange(o.db_, nullptr)), session_(std::move(o.session_)), conn_(o.conn_), state_(o.state_) {
    for (auto& q : queue_) q.answer->lease = this;
}

Database::Lease::~Lease() {
    if (!db_) return;
    drop_queue("the transaction ended before the statement was sent");
    if (session_) {
        if (PQstatus(conn_) == CONNECTION_OK && in_transaction()) rollback();
        if (discard_ || PQstatus(conn_) != CONNECTION_OK || in_transaction() ||
            PQpipelineStatus(conn_) != PQ_PIPELINE_OFF) {
            // Asked for, broken, or stuck in a transaction we could not end: never reuse it.
            ++db_->dropped_;
            try {
                auto* h = Poco::AnyCast<Poco::Data::PostgreSQL::SessionHandle*>(session_->getProperty("handle"));
                h->disconnect();
            } catch (...) {
            }
        }
        try {
            session_->close();
        } catch (...) {
        }
        --db_->in_use_;
        db_->note_pool();
        db_->slots_.release();
    }
}

bool Database::Lease::in_transaction() const {
    auto s = PQtransactionStatus(conn_);
    return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}

void Database::Lease::fail(PGresult* res) {
    DbError e = classify_db_error(conn_, res);
    if (res) PQclear(res);
    ++db_->errors_;
    throw e;
}

void Database::Lease::exec_script(std::string_view sql) {
    if (!queue_.empty()) flush();
    // A pending BEGIN goes first, in the same message: the script belongs to
    // the transaction (a migration and its ledger row commit together).
    std::string text = std::exchange(begin_pending_, false) ? "BEGIN;\n" : "";
    text += sql;
    PGresult* r = PQexec(conn_, text.c_str());
    auto st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) fail(r);
    PQclear(r);
}

void Database::Lease::commit() {
    if (queue_.empty() && std::exchange(begin_pending_, false)) return;  // BEGIN was never sent: nothing to commit
    if (!begin_pending_ && !in_transaction()) {
        // Autocommit (a read-only request): only the queue is left to send.
        if (!queue_.empty()) flush();
        return;
    }
    if (reset_session_) {
        // Travels with the COMMIT (no extra round trip). RESET ALL returns every
        // setting to the session's default (the connection string's options
        // included), then the host's pins; pg_catalog names, since the
        // transaction may have changed search_path.
        query_later("RESET ALL", {});
        query_later("SELECT pg_catalog.set_config('TimeZone', 'UTC', false), "
                    "pg_catalog.set_config('DateStyle', 'ISO, MDY', false), "
                    "pg_catalog.set_config('statement_timeout', $1, false), pg_catalog.pg_advisory_unlock_all()",
                    {std::to_string(db_->options_.statement_timeout.count())});
        query_later("DISCARD TEMP", {});
        query_later("UNLISTEN *", {});
    }
    PGresult* r = flush("COMMIT");
    // PostgreSQL answers COMMIT of a failed transaction with the tag ROLLBACK.
    bool committed = PQresultStatus(r) == PGRES_COMMAND_OK && std::strcmp(PQcmdStatus(r), "COMMIT") == 0;
    PQclear(r);
    if (!committed) {
        ++db_->errors_;
        throw DbError(500, "transaction_aborted", "25P02", "COMMIT answered ROLLBACK: the transaction had failed");
    }
}

void Database::Lease::rollback() noexcept {
    begin_pending_ = false;
    drop_queue("the transaction was rolled back before the statement was sent");
    if (!in_transaction()) return;
    // Session advisory locks are the one thing a ROLLBACK does not undo.
    PGresult* r = PQexec(conn_, reset_session_ ? "ROLLBACK; SELECT pg_advisory_unlock_all()" : "ROLLBACK");
    if (r) PQclear(r);
}

void Database::Lease::forget_plans() {
    PGresult* r = PQexec(conn_, "DEALLOCATE ALL");
    if (r) PQclear(r);
    state_->statements.clear();
}

void Database::Lease::note_failure(const DbError& e) {
    // Every statement prepared on this connection may be stale after a schema
    // change: the connection is not reused, and the next one prepares afresh.
    if (e.code == "stale_statement") {
        discard_ = true;
        state_->statements.clear();
    }
}

void Database::Lease::drop_queue(const char* why) noexcept {
    for (auto& q : queue_) {
        q.answer->lease = nullptr;
        if (q.prepare) state_->statements.erase(q.sql);  // never sent, so never prepared
        if (!q.answer->arrived) {
            q.answer->arrived = true;
            q.answer->error.emplace(500, "statement_not_sent", "", why);
        }
    }
    queue_.clear();
}

Database::Lease::Queued Database::Lease::make_queued(std::string_view sql, Params params) {
    Queued q;
    q.sql.assign(sql);
    q.params = std::move(params);
    q.answer = std::make_shared<PendingResult>();
    q.answer->lease = this;
    if (auto it = state_->statements.find(q.sql); it != state_->statements.end()) {
        q.name = it->second;
    } else if (state_->statements.size() < static_cast<size_t>(db_->options_.prepared_per_connection)) {
        // Remembered now, so that the same statement queued twice is prepared once;
        // forgotten again if the PREPARE fails or is never sent.
        q.name = "oms_" + std::to_string(state_->next_id++);
        q.prepare = true;
        state_->statements.emplace(q.sql, q.name);
    }
    return q;
}

std::shared_ptr<PendingResult> Database::Lease::query_later(std::string_view sql, Params params) {
    queue_.push_back(make_queued(sql, std::move(params)));
    return queue_.back().answer;
}

QueryResult Database::Lease::query(std::string_view sql, Params params) {
    auto answer = query_later(sql, std::move(params));
    return wait(*answer);
}

QueryResult Database::Lease::wait(PendingResult& pending) {
    if (!pending.arrived) {
        if (!pending.lease) throw DbError(500, "statement_not_sent", "", "the statement's transaction has ended");
        pending.lease->flush();
    }
    if (pending.error) throw *pending.error;
    return QueryResult(std::exchange(pending.result, nullptr));
}

PGresult* Database::Lease::flush(const char* finish) {
    std::vector<Queued> batch = std::move(queue_);
    queue_.clear();
    const bool send_begin = std::exchange(begin_pending_, false);

    // libpq's view of a statement's parameters (NULL for SQL NULL).
    auto pointers = [](const Params& params) {
        std::vector<const char*> v(params.size());
        for (size_t i = 0; i < params.size(); ++i) v[i] = params[i] ? params[i]->c_str() : nullptr;
        return v;
    };

    // One statement and nothing else: the plain (non-pipelined) calls are cheaper.
    if (!send_begin && !finish && batch.size() == 1 && !batch[0].prepare) {
        Queued& q = batch[0];
        std::vector<const char*> values = pointers(q.params);
        const int n = static_cast<int>(values.size());
        PGresult* r = q.name.empty()
                          ? PQexecParams(conn_, q.sql.c_str(), n, nullptr, values.data(), nullptr, nullptr, 0)
                          : PQexecPrepared(conn_, q.name.c_str(), n, values.data(), nullptr, nullptr, 0);
        auto st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && !retried_stale_ && !in_transaction() &&
            classify_db_error(conn_, r).code == "stale_statement") {
            // Autocommit: nothing else of this work ran, so it is simply run
            // again, planned afresh (once).
            PQclear(r);
            retried_stale_ = true;
            forget_plans();
            r = PQexecParams(conn_, q.sql.c_str(), n, nullptr, values.data(), nullptr, nullptr, 0);
            st = PQresultStatus(r);
        }
        q.answer->arrived = true;
        q.answer->lease = nullptr;
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            q.answer->result = r;
        } else {
            q.answer->error = classify_db_error(conn_, r);
            note_failure(*q.answer->error);
            ++db_->errors_;
            if (r) PQclear(r);
        }
        return nullptr;
    }

    // Everything in one pipeline: [BEGIN] ([PREPARE] EXECUTE)... [finish] SYNC.
    std::vector<std::vector<const char*>> values(batch.size());
    bool sent = PQenterPipelineMode(conn_) == 1 &&
                (!send_begin || PQsendQueryParams(conn_, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1);
    for (size_t b = 0; sent && b < batch.size(); ++b) {
        Queued& q = batch[b];
        auto& v = values[b] = pointers(q.params);
        const int n = static_cast<int>(v.size());
        sent = (!q.prepare || PQsendPrepare(conn_, q.name.c_str(), q.sql.c_str(), 0, nullptr) == 1) &&
               (q.name.empty() ? PQsendQueryParams(conn_, q.sql.c_str(), n, nullptr, v.data(), nullptr, nullptr, 0)
                               : PQsendQueryPrepared(conn_, q.name.c_str(), n, v.data(), nullptr, nullptr, 0)) == 1;
    }
    sent = sent && (!finish || PQsendQueryParams(conn_, finish, 0, nullptr, nullptr, nullptr, nullptr, 0) == 1) &&
           PQpipelineSync(conn_) == 1;

    // Each command answers one result and a NULL; the sync answers last. The
    // first error aborts the rest of the pipeline (PGRES_PIPELINE_ABORTED).
    std::optional<DbError> first_error;
    auto next = [&]() -> PGresult* {
        if (!sent) return nullptr;
        PGresult* r = PQgetResult(conn_);
        if (r) {
            while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
        }
        return r;
    };
    auto note_error = [&](PGresult* r) {
        if (!first_error) {
            first_error = classify_db_error(conn_, r);
            note_failure(*first_error);
            ++db_->errors_;
        }
    };
    auto ok = [](PGresult* r) {
        auto st = PQresultStatus(r);
        return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    };
    auto take = [&](PGresult* r) {  // BEGIN, PREPARE: only their failure matters
        if (!r) {
            note_error(nullptr);
            return false;
        }
        bool good = ok(r);
        if (!good && PQresultStatus(r) != PGRES_PIPELINE_ABORTED) note_error(r);
        PQclear(r);
        return good;
    };

    if (send_begin) take(next());
    for (auto& q : batch) {
        if (q.prepare && !take(next())) state_->statements.erase(q.sql);
        PGresult* r = next();
        q.answer->arrived = true;
        q.answer->lease = nullptr;
        if (r && ok(r)) {
            q.answer->result = r;
            continue;
        }
        if (!r) note_error(nullptr);
        else if (PQresultStatus(r) != PGRES_PIPELINE_ABORTED) note_error(r);
        if (r) PQclear(r);
        q.answer->error = first_error;
    }
    PGresult* finished = nullptr;
    if (finish) {
        finished = next();
        if (finished && !ok(finished) && PQresultStatus(finished) != PGRES_PIPELINE_ABORTED) note_error(finished);
    }
    if (sent) {
        if (PGresult* sync = PQgetResult(conn_)) PQclear(sync);  // PGRES_PIPELINE_SYNC
    }
    PQexitPipelineMode(conn_);
    if (sent && send_begin && first_error && first_error->code == "stale_statement" && !retried_stale_) {
        // The transaction began in this very pipeline: none of its statements
        // ran before, and no answer has been read, so it is rolled back and
        // sent again, planned afresh (once). Otherwise the 503 stands and the
        // connection is not reused.
        retried_stale_ = true;
        discard_ = false;
        if (finished) PQclear(finished);
        PGresult* rb = PQexec(conn_, "ROLLBACK");
        if (rb) PQclear(rb);
        forget_plans();
        for (auto& q : batch) {
            q.prepare = false;
            q.name.clear();
            if (q.answer->result) PQclear(std::exchange(q.answer->result, nullptr));
            q.answer->error.reset();
            q.answer->arrived = false;
            q.answer->lease = this;
        }
        queue_ = std::move(batch);
        begin_pending_ = true;
        return flush(finish);
    }
    if (!sent) {
        // The connection is unusable (the lease drops it): every answer fails.
        DbError lost = classify_db_error(conn_, nullptr);
        for (auto& q : batch)
            if (!q.answer->error && !q.answer->result) q.answer->error = lost;
        if (finished) PQclear(finished);
        throw lost;
    }
    if (finish && first_error) {
        if (finished) PQclear(finished);
        throw *first_error;
    }
    if (finish && !finished) throw classify_db_error(conn_, nullptr);
    return finished;
}

}  // namespace oms::host
