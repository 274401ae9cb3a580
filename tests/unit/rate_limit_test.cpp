// Token buckets per client address.
#include "rate_limit.hpp"

#include <gtest/gtest.h>

using namespace oms::host;

namespace {
constexpr int64_t kSecond = 1'000'000'000;
}

TEST(RateLimiter, AllowsTheBurstThenRefusesWithRetryAfter) {
    RateLimiter rl({2, 3});
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(rl.take("10.0.0.1", 0).allowed) << i;
    auto refused = rl.take("10.0.0.1", 0);
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.retry_after, 1);
    // Another address has its own bucket.
    EXPECT_TRUE(rl.take("10.0.0.2", 0).allowed);
    // Half a second at 2/s is one token.
    EXPECT_TRUE(rl.take("10.0.0.1", kSecond / 2).allowed);
    EXPECT_FALSE(rl.take("10.0.0.1", kSecond / 2).allowed);
}

TEST(RateLimiter, RetryAfterRoundsUpToWholeSeconds) {
    RateLimiter rl({0.2, 1});  // one token per 5 s
    EXPECT_TRUE(rl.take("a", 0).allowed);
    auto d = rl.take("a", kSecond);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.retry_after, 4);  // 0.2 of a token refilled, 0.8 to go
}

TEST(RateLimiter, RefillNeverExceedsTheBurst) {
    RateLimiter rl({10, 2});
    EXPECT_TRUE(rl.take("a", 0).allowed);
    EXPECT_TRUE(rl.take("a", 100 * kSecond).allowed);
    EXPECT_TRUE(rl.take("a", 100 * kSecond).allowed);
    EXPECT_FALSE(rl.take("a", 100 * kSecond).allowed);
}

TEST(RateLimiter, MemoryIsBounded) {
    RateLimiter rl({1, 1, 160});  // 10 buckets per shard
    for (int i = 0; i < 5000; ++i) rl.take("client-" + std::to_string(i), 0);
    EXPECT_LE(rl.clients(), 160u);
    EXPECT_TRUE(rl.take("newcomer", 0).allowed);  // a full table still serves new clients
}

TEST(RateLimiter, IdleBucketsAreForgotten) {
    RateLimiter rl({1, 1, 1600});
    for (int i = 0; i < 1000; ++i) rl.take("early-" + std::to_string(i), 0);
    EXPECT_EQ(rl.clients(), 1000u);
    // Much later the early buckets are full again: new traffic sweeps them out
    // instead of keeping both generations.
    for (int i = 0; i < 1000; ++i) rl.take("late-" + std::to_string(i), 1000 * kSecond);
    EXPECT_LE(rl.clients(), 1020u);
}
