// Per-client-address token buckets (OMS_RATE_LIMIT_RPS / OMS_RATE_LIMIT_BURST).
//
// Each address has a bucket of `burst` tokens refilled at `rate` per second; a
// request takes one or is refused with the seconds until the next token. The
// buckets live in this process only: every host behind a load balancer limits
// on its own. Memory is bounded: the table is split into shards, each a
// least-recently-seen list with a fixed capacity. A bucket that has been idle
// long enough to be full again is dropped (forgetting it changes nothing), and
// when a shard is full its least recently seen bucket makes room.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace oms::host {

class RateLimiter {
public:
    struct Options {
        double rate = 10;          // tokens per second
        double burst = 20;         // bucket size
        size_t max_clients = 65536;  // buckets kept at most (over all shards)
    };
    explicit RateLimiter(Options options);

    struct Decision {
        bool allowed = true;
        int retry_after = 0;  // whole seconds until a request would pass (>= 1 when refused)
    };
    // Takes a token from `client`'s bucket at time `now_ns` (any monotonic clock, nanoseconds).
    Decision take(std::string_view client, int64_t now_ns);
    // Decision at the steady clock's now.
    Decision take(std::string_view client);

    size_t clients() const;  // buckets currently kept
    const Options& options() const { return options_; }

private:
    struct Bucket {
        double tokens;
        int64_t last_ns;
        std::list<const std::string*>::iterator lru;
    };
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    struct Shard {
        mutable std::mutex mutex;
        std::unordered_map<std::string, Bucket, Hash, std::equal_to<>> buckets;
        std::list<const std::string*> lru;  // front: most recently seen
    };
    static constexpr size_t kShards = 16;

    Options options_;
    size_t per_shard_;
    int64_t refill_ns_;  // time for an empty bucket to become full: an older bucket is forgettable
    std::array<Shard, kShards> shards_;
};

}  // namespace oms::host
