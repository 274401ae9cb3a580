#include <oms/money.hpp>
#include <oms/pagination.hpp>

#include <gtest/gtest.h>

using nlohmann::json;
namespace money = oms::money;

TEST(Money, JsonAmountsConvertWithoutFloatError) {
    EXPECT_EQ(money::parse_json(json::parse("99.99"), "INR").minor, 9999);
    EXPECT_EQ(money::parse_json(json::parse("0.29"), "INR").minor, 29);    // 0.29 * 100 = 28.999999999999996 in double
    EXPECT_EQ(money::parse_json(json::parse("1.005"), "KWD").minor, 1005);
    EXPECT_EQ(money::parse_json(json::parse("100"), "INR").minor, 10000);
    EXPECT_EQ(money::parse_json(json::parse("10.5"), "USD").minor, 1050);
    EXPECT_EQ(money::parse_json(json::parse("10.50"), "USD").minor, 1050);
    EXPECT_EQ(money::parse_json(json::parse("1e2"), "INR").minor, 10000);
    EXPECT_EQ(money::parse_json(json::parse("500"), "JPY").minor, 500);
    EXPECT_EQ(money::parse_json(json::parse("0"), "INR").minor, 0);
    EXPECT_EQ(money::parse_json(json::parse("123456789012.34"), "INR").minor, 12345678901234);
}

TEST(Money, MoreDecimalsThanTheCurrencyAllowsAreRefused) {
    EXPECT_FALSE(money::parse_json(json::parse("99.999"), "INR").ok());
    EXPECT_FALSE(money::parse_json(json::parse("1.5"), "JPY").ok());
    EXPECT_FALSE(money::parse_json(json::parse("0.001"), "USD").ok());
    EXPECT_NE(money::parse_json(json::parse("99.999"), "INR").error.find("2 decimal places"), std::string::npos);
}

TEST(Money, OtherValuesAreRefused) {
    EXPECT_FALSE(money::parse_json(json::parse("-1"), "INR").ok());
    EXPECT_FALSE(money::parse_json(json::parse("-0.5"), "INR").ok());
    EXPECT_FALSE(money::parse_json(json::parse("\"99.99\""), "INR").ok());
    EXPECT_FALSE(money::parse_json(json::parse("null"), "INR").ok());
    EXPECT_FALSE(money::parse_json(json::parse("1e300"), "INR").ok());
    EXPECT_FALSE(money::parse_json(json::parse("10"), "XXX").ok());
    EXPECT_FALSE(money::parse_decimal("1.2.3", "INR").ok());
    EXPECT_FALSE(money::parse_decimal(".5", "INR").ok());
    EXPECT_FALSE(money::parse_decimal("5.", "INR").ok());
}

TEST(Money, MinorUnitsPrintAsMajorUnits) {
    EXPECT_EQ(money::to_json(9999, "INR").dump(), "99.99");
    EXPECT_EQ(money::to_json(29, "INR").dump(), "0.29");
    EXPECT_EQ(money::to_json(10000, "INR").dump(), "100");
    EXPECT_EQ(money::to_json(500, "JPY").dump(), "500");
    EXPECT_EQ(money::to_json(1005, "KWD").dump(), "1.005");
    // Round trip through JSON text.
    for (int64_t v : {0LL, 1LL, 7LL, 99LL, 100LL, 12345LL, 999999999LL, 123456789012345LL})
        EXPECT_EQ(money::parse_json(json::parse(money::to_json(v, "INR").dump()), "INR").minor, v) << v;
}

TEST(Pagination, CursorsRoundTripAndPagesCarryTheNextOne) {
    json key = {{"t", "2026-11-25T10:00:00.123456Z"}, {"id", "0b6c6f0e-1d1e-4c4a-9d59-3c1c1f3f2a10"}};
    auto cursor = oms::pagination::make_cursor(key);
    EXPECT_EQ(cursor.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos);
    auto back = oms::pagination::detail::unbase64url(cursor);
    ASSERT_TRUE(back);
    EXPECT_EQ(json::parse(*back), key);
    EXPECT_FALSE(oms::pagination::detail::unbase64url("not a cursor!"));

    json rows = json::array({{{"id", 1}}, {{"id", 2}}, {{"id", 3}}});
    auto full = oms::pagination::page_body(rows, 2, [](const json& r) { return json{{"id", r["id"]}}; });
    EXPECT_EQ(full["data"].size(), 2u);
    EXPECT_EQ(json::parse(*oms::pagination::detail::unbase64url(full["next_cursor"].get<std::string>()))["id"], 2);
    auto last = oms::pagination::page_body(rows, 3, [](const json& r) { return json{{"id", r["id"]}}; });
    EXPECT_EQ(last["data"].size(), 3u);
    EXPECT_TRUE(last["next_cursor"].is_null());
}
