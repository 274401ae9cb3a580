// The caller cache on its own: hits and misses, negative answers, the TTL,
// eviction when full, the fill race (a ticket taken before an invalidation is
// refused), and the listener's state switching the cache off and on.
#include "caller_cache.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

using namespace oms::host;
using namespace std::chrono_literals;

namespace {

CallerCache::Answer customer(std::string id = {}) { return {true, std::move(id), "customer"}; }

}  // namespace

TEST(CallerCache, StoresAndFindsAnswersIncludingGoneAccounts) {
    CallerCache c({1000, 60s});
    c.set_listening(true);
    EXPECT_FALSE(c.find("u1"));
    ASSERT_TRUE(c.store("u1", customer("u1"), c.ticket("u1")));
    ASSERT_TRUE(c.store("gone", CallerCache::Answer{false, {}, {}}, c.ticket("gone")));
    auto hit = c.find("u1");
    ASSERT_TRUE(hit);
    EXPECT_TRUE(hit->exists);
    EXPECT_EQ(hit->role, "customer");
    EXPECT_EQ(hit->user_id, "") << "the key itself is not stored twice";
    auto gone = c.find("gone");
    ASSERT_TRUE(gone);
    EXPECT_FALSE(gone->exists);
    EXPECT_EQ(c.hits(), 2u);
    EXPECT_EQ(c.misses(), 1u);
    EXPECT_EQ(c.entries(), 2u);
}

TEST(CallerCache, AFillThatStartedBeforeAnInvalidationIsNotStored) {
    CallerCache c({1000, 60s});
    c.set_listening(true);
    auto before = c.ticket("u1");  // the request asks the database ...
    c.invalidate("u1");            // ... a role change commits and its NOTIFY arrives ...
    EXPECT_FALSE(c.store("u1", customer(), before));  // ... the old answer is not kept
    EXPECT_FALSE(c.find("u1"));
    auto after = c.ticket("u1");
    EXPECT_TRUE(c.store("u1", customer(), after));
    EXPECT_EQ(c.invalidations(), 1u);

    auto t = c.ticket("u2");
    c.flush();
    EXPECT_FALSE(c.store("u2", customer(), t));
    EXPECT_FALSE(c.find("u1")) << "flush drops everything";
    EXPECT_EQ(c.flushes(), 1u);

    t = c.ticket("u3");
    c.invalidate("");  // every key of the service
    EXPECT_FALSE(c.store("u3", customer(), t));
    EXPECT_EQ(c.flushes(), 2u);
    EXPECT_EQ(c.invalidations(), 2u);
}

TEST(CallerCache, OffWhileTheListenerIsDownAndFlushedOnEachTransition) {
    CallerCache c({1000, 60s});
    // Not listening yet: nothing is stored, every lookup misses.
    EXPECT_FALSE(c.store("u1", customer(), c.ticket("u1")));
    c.set_listening(true);
    ASSERT_TRUE(c.store("u1", customer(), c.ticket("u1")));
    auto t = c.ticket("u2");
    c.set_listening(false);
    EXPECT_EQ(c.flushes(), 1u);
    EXPECT_FALSE(c.find("u1"));
    EXPECT_FALSE(c.store("u2", customer(), t));
    auto while_down = c.ticket("u2");
    EXPECT_FALSE(c.store("u2", customer(), while_down));
    c.set_listening(true);
    // A ticket of a read made while down (it may have missed a NOTIFY) stays refused.
    EXPECT_FALSE(c.store("u2", customer(), while_down));
    EXPECT_FALSE(c.store("u2", customer(), t));
    EXPECT_TRUE(c.store("u2", customer(), c.ticket("u2")));
}

TEST(CallerCache, EntriesExpireAfterTheTtl) {
    CallerCache c({1000, 50ms});
    c.set_listening(true);
    ASSERT_TRUE(c.store("u1", customer(), c.ticket("u1")));
    EXPECT_TRUE(c.find("u1"));
    std::this_thread::sleep_for(80ms);
    EXPECT_FALSE(c.find("u1"));
}

TEST(CallerCache, ZeroTtlStoresNothing) {
    CallerCache c({1000, 0ms});
    c.set_listening(true);
    EXPECT_FALSE(c.store("u1", customer(), c.ticket("u1")));
    EXPECT_FALSE(c.find("u1"));
}

TEST(CallerCache, StaysWithinItsCapacityDroppingTheOldest) {
    CallerCache c({64, 60s});
    c.set_listening(true);
    for (int i = 0; i < 1000; ++i) {
        std::string id = "user-" + std::to_string(i);
        c.store(id, customer(), c.ticket(id));
    }
    EXPECT_LE(c.entries(), 64u);
    EXPECT_GE(c.entries(), 48u);
    EXPECT_TRUE(c.find("user-999")) << "the newest entry was evicted";
    EXPECT_FALSE(c.find("user-0")) << "the oldest entry survived a full cache";
}

TEST(CallerCache, ConcurrentReadersWritersAndInvalidations) {
    CallerCache c({256, 60s});
    c.set_listening(true);
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; !stop; ++i) {
                std::string id = "u" + std::to_string((i * 7 + t) % 512);
                if (!c.find(id)) c.store(id, customer(), c.ticket(id));
            }
        });
    threads.emplace_back([&] {
        for (int i = 0; !stop; ++i) {
            c.invalidate("u" + std::to_string(i % 512));
            if (i % 1000 == 0) c.flush();
        }
    });
    std::this_thread::sleep_for(200ms);
    stop = true;
    for (auto& t : threads) t.join();
    EXPECT_LE(c.entries(), 256u);
    EXPECT_GT(c.hits() + c.misses(), 0u);
}
