// Idempotency-Key handling for routes that opt in (OMS_ROUTE_IDEMPOTENT):
// the same key from the same caller on the same route with the same body
// replays the first response (Idempotent-Replayed: true); another body → 422;
// while the first request is still running → 409. Keys live in
// oms_idempotency_keys and are purged after the retention period.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "db.hpp"
#include "runtime.hpp"

namespace oms::host {

class IdempotencyStore {
public:
    // A claim older than this is taken to belong to a host that died mid-request.
    static constexpr std::chrono::seconds kStaleClaim{60};

    struct Claim {
        enum Kind { Proceed, Replay, BodyMismatch, InFlight } kind = Proceed;
        Reply replay;  // for Replay
    };

    // Claims (scope, key) for a request with this hash, in a transaction of its own.
    static Claim claim(Database& db, const std::string& scope, const std::string& key, const std::string& hash);
    // Stores the response inside the request's transaction, so it commits
    // (or not) together with what the request wrote.
    static void complete(Database::Lease& request_tx, const std::string& scope, const std::string& key,
                         const Reply& reply);
    // Gives the key up after a failed request (nothing was written), so a retry runs again.
    static void abandon(Database& db, const std::string& scope, const std::string& key) noexcept;
    // Deletes keys older than `retention`; returns how many.
    static uint64_t purge(Database& db, std::chrono::seconds retention);

    // Key syntax: 1–255 visible ASCII characters.
    static bool valid_key(std::string_view key);
};

}  // namespace oms::host
