#include "config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace oms::host;

TEST(EnvText, ParsesCommentsQuotesAndExport) {
    auto m = parse_env_text("# comment\nA=1\nexport B = two \nC=\"x y # not a comment\"\nD='q'\n\nE=\n", "t");
    EXPECT_EQ(m.at("A"), "1");
    EXPECT_EQ(m.at("B"), "two");
    EXPECT_EQ(m.at("C"), "x y # not a comment");
    EXPECT_EQ(m.at("D"), "q");
    EXPECT_EQ(m.at("E"), "");
}

TEST(EnvText, SyntaxErrorsNameTheOriginAndLine) {
    try {
        parse_env_text("A=1\nthis line has no equals sign\n", "etc/oms.conf");
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(), "etc/oms.conf:2: expected KEY=VALUE");
    }
    EXPECT_THROW(parse_env_text("A=\"open\n", ".env"), ConfigError);
}

TEST(Durations, AcceptTheDocumentedForms) {
    EXPECT_EQ(parse_duration_seconds("7d"), 7 * 86400);
    EXPECT_EQ(parse_duration_seconds("12h"), 12 * 3600);
    EXPECT_EQ(parse_duration_seconds("30m"), 1800);
    EXPECT_EQ(parse_duration_seconds("45s"), 45);
    EXPECT_EQ(parse_duration_seconds("3600"), 3600);
    EXPECT_FALSE(parse_duration_seconds(""));
    EXPECT_FALSE(parse_duration_seconds("7 days"));
    EXPECT_FALSE(parse_duration_seconds("-5"));
    EXPECT_FALSE(parse_duration_seconds("h"));
}

TEST(Config, TypedGettersRefuseBadValuesWithOneLine) {
    EXPECT_EQ(Config::from_map({}).port(), 3000);
    EXPECT_EQ(Config::from_map({{"PORT", "0"}}).port(), 0);
    EXPECT_THROW(Config::from_map({{"PORT", "70000"}}).port(), ConfigError);
    EXPECT_THROW(Config::from_map({{"PORT", "80x"}}).port(), ConfigError);
    EXPECT_THROW(Config::from_map({{"OMS_ENV", "prod"}}).production(), ConfigError);
    EXPECT_THROW(Config::from_map({{"JWT_EXPIRES_IN", "soon"}}).jwt_expires_in(), ConfigError);
    EXPECT_THROW(Config::from_map({{"DATABASE_URL", "mysql://x"}}).database_url(), ConfigError);
    EXPECT_THROW(Config::from_map({}).database_url(), ConfigError);
}

TEST(Config, ProductionRequiresALongJwtSecret) {
    auto base = std::map<std::string, std::string>{{"OMS_ENV", "production"},
                                                   {"DATABASE_URL", "postgresql://u@127.0.0.1/db"}};
    EXPECT_THROW(Config::from_map(base).validate_for_serving(), ConfigError);
    auto short_secret = base;
    short_secret["JWT_SECRET"] = "too-short";
    EXPECT_THROW(Config::from_map(short_secret).validate_for_serving(), ConfigError);
    auto good = base;
    good["JWT_SECRET"] = std::string(32, 'k');
    EXPECT_NO_THROW(Config::from_map(good).validate_for_serving());
}

TEST(Config, EnvironmentWinsOverDotenvWhichWinsOverTheFile) {
    auto dir = std::filesystem::temp_directory_path() / ("oms-config-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    {
        std::ofstream(dir / "oms.conf") << "OMS_T_A=file\nOMS_T_B=file\nOMS_T_C=file\n";
        std::ofstream(dir / ".env") << "OMS_T_B=dotenv\nOMS_T_C=dotenv\n";
    }
    ::setenv("OMS_DOTENV", (dir / ".env").c_str(), 1);
    ::setenv("OMS_T_C", "environment", 1);
    auto cfg = Config::load((dir / "oms.conf").string());
    EXPECT_EQ(cfg.get("OMS_T_A"), "file");
    EXPECT_EQ(cfg.get("OMS_T_B"), "dotenv");
    EXPECT_EQ(cfg.get("OMS_T_C"), "environment");
    EXPECT_EQ(cfg.get("OMS_T_MISSING", "fallback"), "fallback");
    ::unsetenv("OMS_DOTENV");
    ::unsetenv("OMS_T_C");
    std::filesystem::remove_all(dir);
}

TEST(Config, AMissingExplicitFileIsRefused) {
    EXPECT_THROW(Config::load(std::string("/nonexistent/oms.conf")), ConfigError);
}

TEST(Config, CorsIsOffUnlessOriginsAreGiven) {
    auto off = Config::from_map({}).cors();
    EXPECT_FALSE(off.enabled());
    EXPECT_EQ(off.max_age, 600);
    auto any = Config::from_map({{"OMS_CORS_ORIGINS", " * "}}).cors();
    EXPECT_TRUE(any.any);
    EXPECT_TRUE(any.allows("https://anything.example"));
    auto list = Config::from_map({{"OMS_CORS_ORIGINS", "https://shop.example, http://localhost:5173"},
                                  {"OMS_CORS_MAX_AGE", "60"}})
                    .cors();
    EXPECT_EQ(list.origins, (std::vector<std::string>{"https://shop.example", "http://localhost:5173"}));
    EXPECT_EQ(list.max_age, 60);
    EXPECT_TRUE(list.allows("http://localhost:5173"));
    EXPECT_FALSE(list.allows("http://localhost:5174"));
    EXPECT_FALSE(list.allows("https://shop.example.evil"));  // exact, never a prefix
}

TEST(Config, BadCorsOriginsAreRefusedByName) {
    for (std::string bad : {"https://shop.example/", "shop.example", "https://shop.example/path", "*, https://a.example",
                            "https://*.example", "https://"}) {
        try {
            Config::from_map({{"OMS_CORS_ORIGINS", bad}}).cors();
            ADD_FAILURE() << "accepted " << bad;
        } catch (const ConfigError& e) {
            EXPECT_EQ(std::string(e.what()).rfind("OMS_CORS_ORIGINS", 0), 0u) << e.what();
        }
    }
    EXPECT_THROW(Config::from_map({{"OMS_CORS_MAX_AGE", "-1"}}).cors(), ConfigError);
}

TEST(Config, RateLimitDefaultsOffAndBurstFollowsTheRate) {
    EXPECT_FALSE(Config::from_map({}).rate_limit().enabled());
    auto r = Config::from_map({{"OMS_RATE_LIMIT_RPS", "50"}}).rate_limit();
    EXPECT_TRUE(r.enabled());
    EXPECT_EQ(r.rps, 50);
    EXPECT_EQ(r.burst, 100);
    EXPECT_EQ(Config::from_map({{"OMS_RATE_LIMIT_RPS", "50"}, {"OMS_RATE_LIMIT_BURST", "5"}}).rate_limit().burst, 5);
    EXPECT_THROW(Config::from_map({{"OMS_RATE_LIMIT_RPS", "fast"}}).rate_limit(), ConfigError);
    EXPECT_THROW(Config::from_map({{"OMS_RATE_LIMIT_RPS", "-3"}}).rate_limit(), ConfigError);
    EXPECT_THROW(Config::from_map({{"OMS_RATE_LIMIT_RPS", "5"}, {"OMS_RATE_LIMIT_BURST", "0"}}).rate_limit(), ConfigError);
}

// OMS_TRUSTED_PROXIES: X-Forwarded-For is believed only from a trusted peer,
// and the client is its right-most address that is not a trusted proxy.
TEST(TrustedProxies, TheClientIsTheRightMostUntrustedForwardedAddress) {
    auto t = Config::from_map({{"OMS_TRUSTED_PROXIES", "127.0.0.1/32, 10.0.0.0/8,::1"}}).trusted_proxies();
    ASSERT_TRUE(t.enabled());
    EXPECT_TRUE(t.contains("10.200.3.4"));
    EXPECT_TRUE(t.contains("::1"));
    EXPECT_FALSE(t.contains("11.0.0.1"));
    EXPECT_FALSE(t.contains("not an address"));
    std::string xff = "198.51.100.7, 203.0.113.9, 10.1.1.1";
    EXPECT_EQ(t.client_address("127.0.0.1", &xff), "203.0.113.9");  // 198.51.100.7 is the client's own claim
    EXPECT_EQ(t.client_address("192.0.2.1", &xff), "192.0.2.1");    // an untrusted peer's header is ignored
    EXPECT_EQ(t.client_address("127.0.0.1", nullptr), "127.0.0.1");
    std::string garbage = "203.0.113.9, <script>";
    EXPECT_EQ(t.client_address("127.0.0.1", &garbage), "127.0.0.1");
    std::string all_trusted = "10.0.0.1, 10.0.0.2";
    EXPECT_EQ(t.client_address("127.0.0.1", &all_trusted), "10.0.0.1");
    EXPECT_FALSE(Config::from_map({}).trusted_proxies().enabled());
    for (const char* bad : {"10.0.0.0/33", "nonsense", "10.0.0.0/", "::1/129"})
        EXPECT_THROW(Config::from_map({{"OMS_TRUSTED_PROXIES", bad}}).trusted_proxies(), ConfigError) << bad;
}
