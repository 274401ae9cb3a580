#include "caller_cache.hpp"

#include <functional>
#include <mutex>
#include <stdexcept>

namespace oms::host {
namespace {
constexpr size_t kShards = 16;  // many worker threads read; a shard's lock is rarely contended
}  // namespace

struct alignas(64) CallerCache::Shard {
    struct Entry;
    using Node = std::pair<const std::string, Entry>;  // the map's value_type
    struct Entry {
        Answer answer;  // answer.user_id empty: the key itself
        Clock::time_point expires;
        std::list<Node*>::iterator pos;  // in `order`
    };
    using Map = std::unordered_map<std::string, Entry>;

    mutable std::shared_mutex mu;
    Map map;
    // Oldest first. Every entry lives for the same TTL, so the front is also
    // the first to expire: evicting it when full is "drop what is due next".
    // Elements of an unordered_map keep their address across rehashing.
    std::list<Node*> order;
    size_t capacity = 0;
    // Bumped (under `mu`, exclusively) by every invalidation of a key of this
    // shard and by every flush; a fill stores only if it is unchanged.
    std::atomic<uint64_t> epoch{1};
    std::atomic<uint64_t> hits{0}, misses{0}, size{0};

    void erase(Map::iterator it) {
        order.erase(it->second.pos);
        map.erase(it);
    }
    void clear() {
        map.clear();
        order.clear();
        size.store(0, std::memory_order_relaxed);
        epoch.fetch_add(1);
    }
};

CallerCache::CallerCache(Options options) : options_(options) {
    shards_.reserve(kShards);
    for (size_t i = 0; i < kShards; ++i) {
        auto s = std::make_unique<Shard>();
        // Exactly `capacity` in all: the first capacity % kShards shards take one more.
        s->capacity = options_.capacity / kShards + (i < options_.capacity % kShards ? 1 : 0);
        shards_.push_back(std::move(s));
    }
}

CallerCache::~CallerCache() = default;

CallerCache::Shard& CallerCache::shard_for(std::string_view key) const {
    return *shards_[std::hash<std::string_view>{}(key) % kShards];
}

std::optional<CallerCache::Answer> CallerCache::find(const std::string& user_id) {
    Shard& s = shard_for(user_id);
    if (listening_.load()) {
        std::shared_lock lock(s.mu);
        auto it = s.map.find(user_id);
        if (it != s.map.end() && it->second.expires > Clock::now()) {
            s.hits.fetch_add(1, std::memory_order_relaxed);
            return it->second.answer;
        }
    }
    s.misses.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
}

CallerCache::Ticket CallerCache::ticket(const std::string& user_id) const {
    Ticket t;
    // The epoch first: a listener transition after this read bumps it, so
    // reading `listening_` second can only make the ticket stricter.
    t.epoch = shard_for(user_id).epoch.load();
    t.valid = listening_.load() && options_.ttl.count() > 0;
    return t;
}

bool CallerCache::store(const std::string& user_id, Answer answer, Ticket ticket) {
    if (!ticket.valid || options_.ttl.count() <= 0 || user_id.size() > 256) return false;
    Shard& s = shard_for(user_id);
    std::unique_lock lock(s.mu);
    if (!listening_.load() || s.epoch.load() != ticket.epoch || s.capacity == 0) return false;
    auto now = Clock::now();
    if (auto it = s.map.find(user_id); it != s.map.end()) s.erase(it);
    // Expired entries at the front, then the oldest while full.
    while (!s.order.empty() && (s.order.front()->second.expires <= now || s.map.size() >= s.capacity))
        s.erase(s.map.find(s.order.front()->first));
    if (answer.user_id == user_id) answer.user_id.clear();
    auto [it, inserted] = s.map.try_emplace(user_id);
    it->second.answer = std::move(answer);
    it->second.expires = now + options_.ttl;
    it->second.pos = s.order.insert(s.order.end(), &*it);
    s.size.store(s.map.size(), std::memory_order_relaxed);
    return true;
}

void CallerCache::invalidate(std::string_view user_id) {
    invalidations_.fetch_add(1, std::memory_order_relaxed);
    if (user_id.empty()) {
        flush();
        return;
    }
    Shard& s = shard_for(user_id);
    std::unique_lock lock(s.mu);
    if (auto it = s.map.find(std::string(user_id)); it != s.map.end()) s.erase(it);
    s.size.store(s.map.size(), std::memory_order_relaxed);
    s.epoch.fetch_add(1);
}

void CallerCache::flush() {
    flushes_.fetch_add(1, std::memory_order_relaxed);
    for (auto& s : shards_) {
        std::unique_lock lock(s->mu);
        s->clear();
    }
}

void CallerCache::set_listening(bool listening) {
    if (listening) {
        // Nothing was stored while down, but tickets taken then (whose reads
        // may have missed a notification) must not be honoured: new epochs.
        for (auto& s : shards_) {
            std::unique_lock lock(s->mu);
            s->clear();
        }
        listening_.store(true);
    } else {
        bool was = listening_.exchange(false);
        if (was) flush();  // a notification may be lost from here on
    }
}

uint64_t CallerCache::hits() const {
    uint64_t n = 0;
    for (const auto& s : shards_) n += s->hits.load(std::memory_order_relaxed);
    return n;
}

uint64_t CallerCache::misses() const {
    uint64_t n = 0;
    for (const auto& s : shards_) n += s->misses.load(std::memory_order_relaxed);
    return n;
}

uint64_t CallerCache::entries() const {
    uint64_t n = 0;
    for (const auto& s : shards_) n += s->size.load(std::memory_order_relaxed);
    return n;
}

void queue_cache_invalidation(Database::Lease& tx, std::string_view service, std::string_view key) {
    if (service.empty() || service.find('\n') != std::string_view::npos ||
        service.find('\0') != std::string_view::npos || key.find('\0') != std::string_view::npos)
        throw std::invalid_argument("cache invalidation: the service must be one non-empty line, and no NUL bytes");
    std::string payload;
    payload.reserve(service.size() + 1 + key.size());
    payload.append(service).append("\n").append(key);
    if (payload.size() >= 8000)  // PostgreSQL's limit for a NOTIFY payload
        throw std::invalid_argument("cache invalidation: service and key exceed 8000 bytes");
    static const std::string sql = "SELECT pg_notify('" + std::string(kCacheInvalidateChannel) + "', $1)";
    tx.query_later(sql, {std::move(payload)});
}

}  // namespace oms::host
