// How the SDK's Tx::query binds a std::vector: as a PostgreSQL array literal.
#include <oms/plugin.hpp>

#include <gtest/gtest.h>

using oms::detail::array_literal;

TEST(SdkParams, VectorsBecomeArrayLiterals) {
    EXPECT_EQ(array_literal(std::vector<int64_t>{}), "{}");
    EXPECT_EQ(array_literal(std::vector<int64_t>{1, -2, 30}), "{1,-2,30}");
    EXPECT_EQ(array_literal(std::vector<std::string>{"7e46c596-b9a5-4410-a927-db03e5fa2724"}),
              R"({"7e46c596-b9a5-4410-a927-db03e5fa2724"})");
    // Quotes and backslashes are escaped; commas, braces, spaces and NULL-looking
    // words stay data inside the double quotes.
    EXPECT_EQ(array_literal(std::vector<std::string>{R"(a"b)", R"(c\d)", "e,f", "{g}", "NULL", ""}),
              R"({"a\"b","c\\d","e,f","{g}","NULL",""})");
}

TEST(SdkParams, AVectorTravelsAsOneTextParameter) {
    oms::detail::ParamPack pack;
    pack.storage.reserve(2);
    std::vector<std::string> ids{"x", "y"};
    pack.add(ids);
    pack.add(std::vector<int>{4, 5});
    ASSERT_EQ(pack.params.size(), 2u);
    EXPECT_EQ(pack.params[0].type, OMS_PARAM_TEXT);
    EXPECT_EQ(std::string(pack.params[0].text.data, pack.params[0].text.len), R"({"x","y"})");
    EXPECT_EQ(std::string(pack.params[1].text.data, pack.params[1].text.len), "{4,5}");
}
