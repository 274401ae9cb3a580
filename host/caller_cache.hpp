// The per-host cache of `oms.resolve_caller` answers, keyed by the token's
// subject (user id): {exists, user_id, role}, or "gone" (the service answered
// 401), so neither a live nor a deleted user's token costs a database round
// trip while the answer is cached.
//
// Why it can be trusted: every change to such an answer is announced by the
// changing transaction (cache_invalidate in <oms/abi.h>: a NOTIFY on
// `oms_cache_invalidate`, delivered at commit), and the host's NotifyListener
// feeds it here. While that listener is not LISTENing (start-up, a dropped
// connection) the cache is off: every lookup misses and nothing is stored,
// and both transitions flush it, so a notification missed while down can
// never leave a stale answer behind. Each entry also expires after the TTL
// (OMS_CALLER_CACHE_TTL), which bounds staleness even when a change is made
// without a NOTIFY (a manual UPDATE in psql).
//
// The fill race: a request that read the database before an invalidation was
// received must not store what it read after it. `ticket()` is taken before
// asking the service; `store()` refuses when an invalidation or flush of that
// key's shard (or a listener transition) happened since.
#pragma once

#include <oms/abi.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "db.hpp"

namespace oms::host {

// The NOTIFY channel of cache invalidations; the payload is "<service>\n<key>"
// (an empty key: every entry of that service).
inline constexpr std::string_view kCacheInvalidateChannel = "oms_cache_invalidate";

// Queues the NOTIFY that drops every host's cached answers of `service` for
// `key` on `tx`: PostgreSQL delivers it when the transaction commits (it
// travels with the COMMIT) and never if it rolls back. Throws
// std::invalid_argument for a service that is not one line, a NUL byte, or a
// payload over PostgreSQL's 8000-byte limit.
void queue_cache_invalidation(Database::Lease& tx, std::string_view service, std::string_view key);
class CallerCache {
public:
    using Clock = std::chrono::steady_clock;
    // The service whose answers are cached: its invalidations name it
    // (or its name before ABI 1.3, "auth.resolve_caller").
    static constexpr std::string_view kService = OMS_SERVICE_RESOLVE_CALLER;

    struct Options {
        size_t capacity = 100000;             // entries, over all shards (OMS_CALLER_CACHE_SIZE)
        std::chrono::milliseconds ttl{5000};  // OMS_CALLER_CACHE_TTL; 0 = never store
    };

    // A cached answer of oms.resolve_caller.
    struct Answer {
        bool exists = false;  // false: the service answered 401 (the account is gone)
        std::string user_id;  // what the service answered (when exists)
        std::string role;
    };

    // Taken before asking the service; store() honours it only if nothing
    // was invalidated in between.
    struct Ticket {
        uint64_t epoch = 0;
        bool valid = false;
    };

    explicit CallerCache(Options options);
    ~CallerCache();
    CallerCache(const CallerCache&) = delete;
    CallerCache& operator=(const CallerCache&) = delete;

    // A fresh answer for `user_id`, or nullopt (counted as a hit or a miss).
    std::optional<Answer> find(const std::string& user_id);
    Ticket ticket(const std::string& user_id) const;
    // Keeps `answer` for the TTL unless `ticket` is stale or the listener is
    // down. Returns whether it was stored. When the shard is full, its oldest
    // entry goes (entries share one TTL, so that is also the next to expire).
    bool store(const std::string& user_id, Answer answer, Ticket ticket);

    // A received invalidation: drops `user_id`'s entry, or every entry when
    // it is empty (counted as an invalidation, and then as a flush).
    void invalidate(std::string_view user_id);
    // Drops every entry (counted as a flush).
    void flush();

    // The listener's state: LISTEN is in place (true) or not (false). Both
    // transitions flush; while false every lookup misses and nothing is stored.
    void set_listening(bool listening);
    bool listening() const { return listening_.load(); }

    // For GET /metrics (atomics only: /metrics runs on a reactor thread).
    uint64_t hits() const;
    uint64_t misses() const;
    uint64_t invalidations() const { return invalidations_.load(std::memory_order_relaxed); }
    uint64_t flushes() const { return flushes_.load(std::memory_order_relaxed); }
    uint64_t entries() const;
    const Options& options() const { return options_; }

private:
    struct Shard;
    Shard& shard_for(std::string_view key) const;

    Options options_;
    std::vector<std::unique_ptr<Shard>> shards_;
    std::atomic<bool> listening_{false};
    std::atomic<uint64_t> invalidations_{0};
    std::atomic<uint64_t> flushes_{0};
};

}  // namespace oms::host
