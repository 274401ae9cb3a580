#include "router.hpp"

#include <gtest/gtest.h>

using oms::host::Router;

TEST(Router, StaticSegmentsWinOverParameters) {
    Router<int> r;
    ASSERT_FALSE(r.add("GET", "/orders/:id", 1));
    ASSERT_FALSE(r.add("GET", "/orders/mine", 2));
    auto m = r.match("GET", "/orders/mine");
    ASSERT_NE(m.target, nullptr);
    EXPECT_EQ(*m.target, 2);
    m = r.match("GET", "/orders/42");
    ASSERT_NE(m.target, nullptr);
    EXPECT_EQ(*m.target, 1);
    ASSERT_EQ(m.params.size(), 1u);
    EXPECT_EQ(m.params[0].first, "id");
    EXPECT_EQ(m.params[0].second, "42");
}

TEST(Router, ParametersArePercentDecoded) {
    Router<int> r;
    r.add("GET", "/items/:sku", 1);
    auto m = r.match("GET", "/items/a%20b%2Fc");
    ASSERT_NE(m.target, nullptr);
    EXPECT_EQ(m.params[0].second, "a b/c");
}

TEST(Router, TrailingSlashIsTheSamePathButEmptySegmentsNeverMatchAParameter) {
    Router<int> r;
    r.add("GET", "/a/:x", 1);
    EXPECT_NE(r.match("GET", "/a/1/").target, nullptr);
    EXPECT_EQ(r.match("GET", "/a//").target, nullptr);
    EXPECT_EQ(r.match("GET", "/a").target, nullptr);
}

TEST(Router, WrongMethodListsTheAllowedOnes) {
    Router<int> r;
    r.add("GET", "/orders/:id", 1);
    r.add("DELETE", "/orders/:id", 2);
    auto m = r.match("POST", "/orders/7");
    EXPECT_EQ(m.target, nullptr);
    EXPECT_EQ(m.allowed, (std::vector<std::string>{"GET", "DELETE"}));
    auto none = r.match("POST", "/nothing");
    EXPECT_TRUE(none.allowed.empty());
}

TEST(Router, SameShapeIsAConflictWhateverTheParameterNames) {
    Router<int> r;
    ASSERT_FALSE(r.add("GET", "/orders/:id", 1));
    auto conflict = r.add("GET", "/orders/:order_id", 2);
    ASSERT_TRUE(conflict);
    EXPECT_EQ(*conflict, "/orders/:id");
    EXPECT_FALSE(r.add("POST", "/orders/:order_id", 3));  // another method is fine
}

TEST(Router, AnyNamesThePathsBestRouteWhateverTheMethod) {
    Router<int> r;
    r.add("GET", "/orders/:id", 1);
    r.add("POST", "/orders/mine", 2);
    auto m = r.match("OPTIONS", "/orders/mine");  // a CORS preflight
    EXPECT_EQ(m.target, nullptr);
    ASSERT_NE(m.any, nullptr);
    EXPECT_EQ(*m.any, 2);
    EXPECT_EQ(m.allowed, (std::vector<std::string>{"GET", "POST"}));
    auto found = r.match("GET", "/orders/7");
    EXPECT_EQ(found.any, found.target);
    EXPECT_EQ(r.match("GET", "/nowhere").any, nullptr);
}
