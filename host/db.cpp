#include "db.hpp"

#include "config.hpp"

#include <Poco/Data/PostgreSQL/Connector.h>
#include <Poco/Data/PostgreSQL/SessionHandle.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/SessionPool.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstring>

namespace oms::host {

struct Database::ConnState {
    int backend_pid = 0;
    std::unordered_map<std::string, std::string> statements;  // sql → prepared name
    uint64_t next_id = 0;
};

namespace {

// Poco's PostgreSQL connector only understands space-separated keyword=value
// pairs (no URLs, no quoting), so any libpq connection string is normalised
// through libpq's own parser first.
std::string poco_connection_string(const std::string& url) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
    if (!opts) {
        std::string why = err ? err : "out of memory";
        if (err) PQfreemem(err);
        while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
        throw ConfigError("DATABASE_URL is not a valid libpq connection string: " + why);
    }
    std::string out;
    bool has_timeout = false, has_app = false;
    for (auto* o = opts; o->keyword; ++o) {
        if (!o->val || !*o->val) continue;
        std::string_view v = o->val;
        if (v.find_first_of(" \t'\\") != std::string_view::npos) {
            PQconninfoFree(opts);
            throw ConfigError(std::string("DATABASE_URL: the value of '") + o->keyword +
                              "' contains a space, quote or backslash, which the Poco connector cannot pass on");
        }
        has_timeout |= std::strcmp(o->keyword, "connect_timeout") == 0;
        has_app |= std::strcmp(o->keyword, "application_name") == 0;
        out += o->keyword;
        out += '=';
        out += v;
        out += ' ';
    }
    PQconninfoFree(opts);
    if (!has_timeout) out += "connect_timeout=3 ";
    if (!has_app) out += "application_name=oms-host ";
    out.pop_back();
    return out;
}

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
    if (state == "57014") return DbError(503, "database_timeout", state, message);
    if (state.rfind("23", 0) == 0) return DbError(409, "conflict", state, message);
    if (state == "22P02" || state == "22003" || state == "22007" || state == "22008" || state == "22023" ||
        state == "22001")
        return DbError(400, "invalid_parameter", state, message);
    return DbError(500, "database_error", state, message);
}

Database::Database(Options options) : options_(std::move(options)), slots_(options_.max_connections) {
    static std::once_flag registered;
    std::call_once(registered, [] { Poco::Data::PostgreSQL::Connector::registerConnector(); });
    pool_ = std::make_unique<Poco::Data::SessionPool>("postgresql", poco_connection_string(options_.url), 1,
                                                      options_.max_connections, 60);
}

Database::~Database() {
    {
        std::lock_guard lock(states_mutex_);
        states_.clear();
    }
    pool_->shutdown();
}

Database::Stats Database::stats() const {
    return {options_.max_connections, in_use_.load(), errors_.load(), dropped_.load()};
}

Database::PoolStats Database::pool_stats() const {
    return {pool_->capacity(), pool_->allocated(), pool_->used(), pool_->idle()};
}

Database::ConnState& Database::state_for(PGconn* conn) {
    std::lock_guard lock(states_mutex_);
    auto& slot = states_[conn];
    int pid = PQbackendPID(conn);
    if (!slot || slot->backend_pid != pid) {  // a new connection (perhaps at a recycled address)
        slot = std::make_unique<ConnState>();
        slot->backend_pid = pid;
    }
    return *slot;
}

void Database::forget(PGconn* conn) {
    std::lock_guard lock(states_mutex_);
    states_.erase(conn);
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
            forget(conn);
            session->close();  // the pool drops a session that is no longer good
            continue;
        }
        ConnState& state = state_for(conn);
        guard.keep = true;  // from here the lease gives the slot back
        ++in_use_;
        Lease lease(*this, std::move(session), conn, state);
        if (state.next_id == 0) {  // first use of this connection
            lease.exec_script("SET TimeZone = 'UTC'; SET statement_timeout = " +
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
    : db_(std::exchange(o.db_, nullptr)), session_(std::move(o.session_)), conn_(o.conn_), state_(o.state_) {}

Database::Lease::~Lease() {
    if (!db_) return;
    if (session_) {
        if (PQstatus(conn_) == CONNECTION_OK && in_transaction()) rollback();
        if (PQstatus(conn_) != CONNECTION_OK || in_transaction() || PQpipelineStatus(conn_) != PQ_PIPELINE_OFF) {
            // Broken, or stuck in a transaction we could not end: never reuse it.
            db_->forget(conn_);
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

void Database::Lease::exec_simple(const char* sql) {
    PGresult* r = PQexec(conn_, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) fail(r);
    PQclear(r);
}

void Database::Lease::exec_script(std::string_view sql) {
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
    if (std::exchange(begin_pending_, false)) return;  // BEGIN was never sent: nothing to commit
    exec_simple("COMMIT");
}

void Database::Lease::rollback() noexcept {
    begin_pending_ = false;
    if (!in_transaction()) return;
    PGresult* r = PQexec(conn_, "ROLLBACK");
    if (r) PQclear(r);
}

void Database::Lease::remember(std::string sql, std::string name) {
    state_->statements.emplace(std::move(sql), std::move(name));
}

PGresult* Database::Lease::begin_and_run(bool prepare, const std::string& sql, const char* name, int n,
                                         const char* const* values) {
    begin_pending_ = false;
    const int commands = prepare ? 3 : 2;
    bool sent = PQenterPipelineMode(conn_) == 1 &&
                PQsendQueryParams(conn_, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1 &&
                (!prepare || PQsendPrepare(conn_, name, sql.c_str(), 0, nullptr) == 1) &&
                (name ? PQsendQueryPrepared(conn_, name, n, values, nullptr, nullptr, 0)
                      : PQsendQueryParams(conn_, sql.c_str(), n, nullptr, values, nullptr, nullptr, 0)) == 1 &&
                PQpipelineSync(conn_) == 1;
    if (!sent) fail(nullptr);  // the connection is unusable; the lease drops it

    // Each command answers one result and a NULL; the sync answers last. The
    // first error aborts the rest of the pipeline (PGRES_PIPELINE_ABORTED).
    PGresult* error = nullptr;
    PGresult* last = nullptr;
    bool prepared = false;
    for (int i = 0; i < commands; ++i) {
        PGresult* r = PQgetResult(conn_);
        if (!r) break;  // connection lost
        while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
        auto st = PQresultStatus(r);
        bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
        if (prepare && i == 1 && ok) prepared = true;
        if (i == commands - 1 && ok) {
            last = r;
        } else if (!ok && !error && st != PGRES_PIPELINE_ABORTED) {
            error = r;
        } else {
            PQclear(r);
        }
    }
    if (PGresult* sync = PQgetResult(conn_)) PQclear(sync);  // PGRES_PIPELINE_SYNC
    PQexitPipelineMode(conn_);
    if (prepared) remember(sql, name);
    if (error || !last) {
        if (last) PQclear(last);
        fail(error);
    }
    return last;
}

QueryResult Database::Lease::query(std::string_view sql, const Params& params) {
    std::vector<const char*> values(params.size());
    for (size_t i = 0; i < params.size(); ++i) values[i] = params[i] ? params[i]->c_str() : nullptr;
    const int n = static_cast<int>(params.size());

    std::string key(sql);
    std::string name;
    bool prepare = false;
    if (auto it = state_->statements.find(key); it != state_->statements.end()) {
        name = it->second;
    } else if (state_->statements.size() < static_cast<size_t>(db_->options_.prepared_per_connection)) {
        name = "oms_" + std::to_string(state_->next_id++);
        prepare = true;
    }
    const char* stmt = name.empty() ? nullptr : name.c_str();
    if (begin_pending_) return QueryResult(begin_and_run(prepare, key, stmt, n, values.data()));

    if (prepare) {
        PGresult* p = PQprepare(conn_, stmt, key.c_str(), 0, nullptr);
        if (PQresultStatus(p) != PGRES_COMMAND_OK) fail(p);
        PQclear(p);
        remember(key, name);
    }
    PGresult* r = stmt ? PQexecPrepared(conn_, stmt, n, values.data(), nullptr, nullptr, 0)
                       : PQexecParams(conn_, key.c_str(), n, nullptr, values.data(), nullptr, nullptr, 0);
    auto st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        // A failed prepared statement inside a rolled-back transaction stays prepared; nothing to undo.
        fail(r);
    }
    return QueryResult(r);
}

}  // namespace oms::host
