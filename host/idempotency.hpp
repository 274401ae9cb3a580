// Idempotency-Key handling for routes that opt in (OMS_ROUTE_IDEMPOTENT):
// the same key from the same caller on the same route with the same body
// replays the first response (Idempotent-Replayed: true); another body → 422;
// while the first request is still running → 409. Answers live in
// oms_idempotency_keys and are purged after the retention period.
//
// Everything happens in the request's own transaction, on its one connection:
//  - the claim (oms_idempotency_claim, migrations/0003) takes a transaction-
//    scoped advisory lock on (scope, key) without waiting and reads a stored
//    answer. It is queued, so it travels with the handler's first statements;
//    a key held by a running request raises 55P03, which makes PostgreSQL skip
//    the rest of that pipeline (409 at once, nothing of the handler runs);
//  - the answer is inserted with the request's writes and commits with them.
// A request that ran while another held the key can never commit over it:
// the second insert of a key is a unique violation, and its transaction rolls back.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "db.hpp"
#include "runtime.hpp"

namespace oms::host {

class IdempotencyStore {
public:
    struct Claim {
        enum Kind { Proceed, Replay, BodyMismatch, InFlight } kind = Proceed;
        Reply replay;  // for Replay
    };

    // Queues the claim of (scope, key) on the request's transaction.
    static std::shared_ptr<PendingResult> claim_later(Database::Lease& request_tx, const std::string& scope,
                                                      const std::string& key);
    // Its outcome for a request whose method, path and body hash to `hash` (waits for it).
    static Claim outcome(PendingResult& claim, const std::string& hash);
    // Queues the answer's insert; it commits (or not) with the request's writes.
    static void complete_later(Database::Lease& request_tx, const std::string& scope, const std::string& key,
                               const std::string& hash, const Reply& reply);
    // Whether a failed commit was this store's fence (another request stored the key first).
    static bool is_fence(const DbError& e);
    // Deletes keys older than `retention`; returns how many.
    static uint64_t purge(Database& db, std::chrono::seconds retention);

    // Key syntax: 1–255 visible ASCII characters.
    static bool valid_key(std::string_view key);
};

}  // namespace oms::host
