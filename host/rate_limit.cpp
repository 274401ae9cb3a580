#include "rate_limit.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>

namespace oms::host {

RateLimiter::RateLimiter(Options options)
    : options_(options),
      per_shard_(std::max<size_t>(1, options.max_clients / kShards)),
      refill_ns_(static_cast<int64_t>(std::ceil(options.burst / options.rate * 1e9))) {}

RateLimiter::Decision RateLimiter::take(std::string_view client) {
    auto now = std::chrono::steady_clock::now().time_since_epoch();
    return take(client, std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
}

RateLimiter::Decision RateLimiter::take(std::string_view client, int64_t now_ns) {
    Shard& shard = shards_[std::hash<std::string_view>{}(client) % kShards];
    std::lock_guard lock(shard.mutex);

    // Forget buckets idle long enough to be full again (oldest first, a few per call).
    for (int i = 0; i < 4 && !shard.lru.empty(); ++i) {
        const std::string* oldest = shard.lru.back();
        auto it = shard.buckets.find(*oldest);
        if (it == shard.buckets.end() || now_ns - it->second.last_ns < refill_ns_) break;
        shard.lru.pop_back();
        shard.buckets.erase(it);
    }

    auto it = shard.buckets.find(client);
    if (it == shard.buckets.end()) {
        if (shard.buckets.size() >= per_shard_) {  // full of active clients: the least recent one goes
            shard.buckets.erase(*shard.lru.back());
            shard.lru.pop_back();
        }
        it = shard.buckets.emplace(std::string(client), Bucket{options_.burst, now_ns, {}}).first;
        shard.lru.push_front(&it->first);
        it->second.lru = shard.lru.begin();
    } else {
        shard.lru.splice(shard.lru.begin(), shard.lru, it->second.lru);
        Bucket& b = it->second;
        double elapsed = static_cast<double>(std::max<int64_t>(0, now_ns - b.last_ns)) / 1e9;
        b.tokens = std::min(options_.burst, b.tokens + elapsed * options_.rate);
        b.last_ns = now_ns;
    }

    Bucket& b = it->second;
    if (b.tokens >= 1.0) {
        b.tokens -= 1.0;
        return {true, 0};
    }
    int wait = static_cast<int>(std::ceil((1.0 - b.tokens) / options_.rate));
    return {false, std::max(1, wait)};
}

size_t RateLimiter::clients() const {
    size_t n = 0;
    for (const auto& s : shards_) {
        std::lock_guard lock(s.mutex);
        n += s.buckets.size();
    }
    return n;
}

}  // namespace oms::host
