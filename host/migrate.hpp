// Migration runner: the host's own migrations first, then each plugin's in
// dependency order; each in its own transaction, all under one PostgreSQL
// advisory lock so that hosts starting together apply each migration once.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "db.hpp"
#include "runtime.hpp"

namespace oms::host {

struct MigrationError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct MigrationState {
    std::string plugin;
    uint32_t version;
    std::string name;
    std::string state;       // "applied", "pending", "changed" (checksum differs), "unknown" (in the ledger only)
    std::string applied_at;  // RFC 3339, empty when pending
};

// The host's own migrations (migrations/*.sql, embedded at build time).
std::vector<MigrationInfo> host_migrations();

std::string sha256_hex(std::string_view data);

class Migrator {
public:
    // `migrations` in the order to apply them.
    Migrator(Database& db, std::vector<MigrationInfo> migrations);
    std::vector<MigrationState> status();
    // Applies what is pending; returns how many ran. Throws MigrationError
    // (one line) for a changed checksum or a failing script.
    int apply();
    // True when nothing is pending and nothing changed.
    bool up_to_date();

private:
    Database& db_;
    std::vector<MigrationInfo> migrations_;
};

// Host migrations, then the runtime's plugin migrations in plugin load order.
std::vector<MigrationInfo> all_migrations(const Runtime& rt);

}  // namespace oms::host
