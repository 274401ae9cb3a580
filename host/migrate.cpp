#include "migrate.hpp"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>

extern "C" const oms_migration_def* oms_host_embedded_migrations(size_t* count);

namespace oms::host {
namespace {

constexpr const char* kLockKey = "7308604759017205352";  // any fixed bigint shared by every oms-host

using Key = std::pair<std::string, uint32_t>;

struct LedgerRow {
    std::string name, checksum, applied_at;
};

std::map<Key, LedgerRow> read_ledger(Database::Lease& c) {
    std::map<Key, LedgerRow> out;
    auto exists = c.query("SELECT to_regclass('oms_migrations') IS NOT NULL");
    if (exists.value(0, 0) != "t") return out;
    auto r = c.query(
        "SELECT plugin, version, name, checksum, "
        "to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM oms_migrations");
    for (int i = 0; i < r.rows(); ++i)
        out[{std::string(r.value(i, 0)), static_cast<uint32_t>(std::stoul(std::string(r.value(i, 1))))}] = {
            std::string(r.value(i, 2)), std::string(r.value(i, 3)), std::string(r.value(i, 4))};
    return out;
}

// A session-level advisory lock, released however we leave. Migrations run
// without the pool's statement timeout (an index on a big table may take
// hours), their wait for the lock is bounded by lock_timeout, and the
// connection is closed afterwards: none of these settings (nor a failed
// unlock) can reach a request.
struct MigrationLock {
    explicit MigrationLock(Database::Lease& c) : c(c) {
        c.discard();
        c.exec_script("SET statement_timeout = 0; SET lock_timeout = '120s'");
        c.query("SELECT pg_advisory_lock($1::bigint)", {std::string(kLockKey)});
    }
    ~MigrationLock() {
        try {
            c.query("SELECT pg_advisory_unlock($1::bigint)", {std::string(kLockKey)});
        } catch (...) {
            // Closing the connection drops the lock with it.
        }
    }
    Database::Lease& c;
};

}  // namespace

std::string sha256_hex(std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
        out.push_back(hex[md[i] >> 4]);
        out.push_back(hex[md[i] & 15]);
    }
    return out;
}

std::vector<MigrationInfo> host_migrations() {
    size_t n = 0;
    const oms_migration_def* defs = oms_host_embedded_migrations(&n);
    std::vector<MigrationInfo> out;
    for (size_t i = 0; i < n; ++i)
        out.push_back({"oms", defs[i].version, defs[i].name, std::string(defs[i].sql.data, defs[i].sql.len)});
    return out;
}

std::vector<MigrationInfo> all_migrations(const Runtime& rt) {
    auto out = host_migrations();
    for (const auto& p : rt.plugins()) {
        std::vector<MigrationInfo> mine;
        for (const auto& m : rt.migrations())
            if (m.plugin == p->name) mine.push_back(m);
        std::sort(mine.begin(), mine.end(), [](auto& a, auto& b) { return a.version < b.version; });
        out.insert(out.end(), mine.begin(), mine.end());
    }
    return out;
}

Migrator::Migrator(Database& db, std::vector<MigrationInfo> migrations)
    : db_(db), migrations_(std::move(migrations)) {}

std::vector<MigrationState> Migrator::status() {
    auto c = db_.acquire();
    auto ledger = read_ledger(c);
    std::vector<MigrationState> out;
    for (const auto& m : migrations_) {
        auto it = ledger.find({m.plugin, m.version});
        if (it == ledger.end()) {
            out.push_back({m.plugin, m.version, m.name, "pending", ""});
        } else {
            out.push_back({m.plugin, m.version, m.name,
                           it->second.checksum == sha256_hex(m.sql) ? "applied" : "changed", it->second.applied_at});
            ledger.erase(it);
        }
    }
    for (const auto& [key, row] : ledger) out.push_back({key.first, key.second, row.name, "unknown", row.applied_at});
    return out;
}

bool Migrator::up_to_date() {
    for (const auto& s : status())
        if (s.state == "pending" || s.state == "changed") return false;
    return true;
}

int Migrator::apply() {
    auto c = db_.acquire();
    MigrationLock lock(c);
    auto ledger = read_ledger(c);  // read under the lock: another host may just have finished
    int applied = 0;
    for (const auto& m : migrations_) {
        std::string checksum = sha256_hex(m.sql);
        auto it = ledger.find({m.plugin, m.version});
        if (it != ledger.end()) {
            if (it->second.checksum != checksum)
                throw MigrationError("migration " + m.name + " of plugin '" + m.plugin +
                                     "' was changed after it was applied (checksum " +
                                     it->second.checksum.substr(0, 12) + " in the database, " +
                                     checksum.substr(0, 12) +
                                     " now); restore the file and put the change in a new migration");
            continue;
        }
        auto t0 = std::chrono::steady_clock::now();
        try {
            c.begin();
            c.exec_script(m.sql);
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
            c.query("INSERT INTO oms_migrations (plugin, version, name, checksum, execution_ms) "
                    "VALUES ($1, $2, $3, $4, $5)",
                    {m.plugin, std::to_string(m.version), m.name, checksum, std::to_string(ms.count())});
            c.commit();
        } catch (const DbError& e) {
            c.rollback();
            throw MigrationError("migration " + m.name + " of plugin '" + m.plugin + "' failed: " + e.what());
        }
        spdlog::info("applied migration {} of {}", m.name, m.plugin);
        ++applied;
    }
    return applied;
}

}  // namespace oms::host
