// The users plugin through the real host and the real plugin (build/plugins):
// sign-up and its validation, login, tokens (issued and forged), roles from
// the CLI, login throttling (per email, per address, across hosts), password
// hashing checked by an independent argon2 implementation, rehash on login,
// and no secrets in the log.
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <future>
#include <mutex>
#include <chrono>
#include <ctime>
#include <optional>
#include <regex>
#include <set>
#include <atomic>
#include <thread>
#include <vector>

#include "common.hpp"

using namespace omstest;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// ---------------------------------------------------------------- helpers --

// Every password a test sends (right or wrong) is registered here; the host
// logs must contain none of them.
std::vector<std::string>& secrets() {
    static std::vector<std::string> s;
    return s;
}
std::string secret(std::string pw) {
    secrets().push_back(pw);
    return pw;
}

std::string unique_email(const std::string& tag) {
    static int counter = 0;
    return "u" + std::to_string(++counter) + "." + tag + "@example.com";
}

// The real plugins, only the users plugin.
std::map<std::string, std::string> users_env(std::map<std::string, std::string> extra = {}) {
    std::map<std::string, std::string> env = {
        {"OMS_PLUGIN_DIR", env_or_fail("OMS_PLUGIN_BUILD_DIR")},
        {"OMS_PLUGINS", "users"},
    };
    for (auto& [k, v] : extra) env[k] = v;
    return env;
}

std::string b64url_encode(std::string_view in) {
    static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    for (size_t i = 0; i < in.size(); i += 3) {
        uint32_t n = uint32_t(uint8_t(in[i])) << 16;
        if (i + 1 < in.size()) n |= uint32_t(uint8_t(in[i + 1])) << 8;
        if (i + 2 < in.size()) n |= uint32_t(uint8_t(in[i + 2]));
        out.push_back(a[(n >> 18) & 63]);
        out.push_back(a[(n >> 12) & 63]);
        if (i + 1 < in.size()) out.push_back(a[(n >> 6) & 63]);
        if (i + 2 < in.size()) out.push_back(a[n & 63]);
    }
    return out;
}

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(md, key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
         data.size(), mac, &len);
    return std::string(reinterpret_cast<const char*>(mac), len);
}

// header.payload.signature, signed with HMAC(md, key).
std::string forge(const json& header, const json& payload, std::string_view key, const EVP_MD* md = EVP_sha256()) {
    std::string signing = b64url_encode(header.dump()) + "." + b64url_encode(payload.dump());
    return signing + "." + b64url_encode(hmac(md, key, signing));
}

int64_t now_s() { return static_cast<int64_t>(std::time(nullptr)); }

json hs256_header() { return {{"alg", "HS256"}, {"typ", "JWT"}}; }
json claims(const std::string& sub, const std::string& role, int64_t iat, int64_t exp) {
    return {{"sub", sub}, {"role", role}, {"iat", iat}, {"exp", exp}};
}

std::vector<std::string> split_token(const std::string& t) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
        size_t dot = t.find('.', start);
        parts.push_back(t.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    return parts;
}

json decode_part(const std::string& part) {
    auto raw = b64_decode(part);
    if (!raw) return json();
    return json::parse(*raw, nullptr, false);
}

bool is_uuid(const std::string& s) {
    static const std::regex re("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", std::regex::icase);
    return std::regex_match(s, re);
}
bool is_rfc3339_utc(const std::string& s) {
    static const std::regex re(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$)");
    return std::regex_match(s, re);
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}
std::string upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

bool starts_with(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

// The five fields of a user, and nothing secret.
void expect_user_shape(const json& u, const std::string& raw_body) {
    ASSERT_TRUE(u.is_object()) << raw_body;
    EXPECT_TRUE(u.contains("id") && u["id"].is_string() && is_uuid(u["id"].get<std::string>())) << raw_body;
    EXPECT_TRUE(u.contains("name") && u["name"].is_string()) << raw_body;
    EXPECT_TRUE(u.contains("email") && u["email"].is_string()) << raw_body;
    EXPECT_TRUE(u.contains("role") && u["role"].is_string()) << raw_body;
    EXPECT_TRUE(u.contains("created_at") && u["created_at"].is_string() &&
                is_rfc3339_utc(u["created_at"].get<std::string>()))
        << raw_body;
    for (auto& [k, v] : u.items()) {
        EXPECT_EQ(lower(k).find("pass"), std::string::npos) << "secret-looking field " << k << " in " << raw_body;
        EXPECT_EQ(lower(k).find("hash"), std::string::npos) << "secret-looking field " << k << " in " << raw_body;
        EXPECT_EQ(lower(k).find("salt"), std::string::npos) << "secret-looking field " << k << " in " << raw_body;
    }
    EXPECT_EQ(raw_body.find("$argon2"), std::string::npos) << raw_body;
}

void expect_401_challenge(const HttpResponse& r, const std::string& what) {
    SCOPED_TRACE(what);
    EXPECT_EQ(r.status, 401) << r;
    EXPECT_EQ(r.header("Content-Type"), "application/problem+json") << r;
    EXPECT_TRUE(starts_with(r.header("WWW-Authenticate"), "Bearer")) << r;
}

void expect_too_many(const HttpResponse& r, const std::string& what) {
    SCOPED_TRACE(what);
    ASSERT_EQ(r.status, 429) << r;
    expect_problem(r, 429, "too_many_attempts");
    std::string ra = r.header("Retry-After");
    ASSERT_FALSE(ra.empty()) << r;
    ASSERT_TRUE(std::all_of(ra.begin(), ra.end(), [](char c) { return c >= '0' && c <= '9'; })) << r;
    int secs = std::stoi(ra);
    EXPECT_GE(secs, 1) << r;
    EXPECT_LE(secs, 2) << r;
}

json without_request_id(json j) {
    if (j.is_object()) j.erase("request_id");
    return j;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

bool one_line(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return !s.empty() && s.find('\n') == std::string::npos;
}

// A syntactically valid email of exactly `len` characters (labels <= 63).
std::string email_of_length(size_t len, const std::string& tag) {
    std::string local = "len" + std::to_string(len) + tag;
    const std::string tld = ".com";
    size_t fill = len - local.size() - 1 - tld.size();  // characters of the domain before the tld
    std::string domain;
    while (fill > 0) {
        if (!domain.empty()) {
            domain += '.';
            --fill;
        }
        size_t label = std::min<size_t>(fill, 63);
        if (fill - label == 1) label -= 1;  // never leave one character: it would need a '.' and a label
        domain += std::string(label, 'd');
        fill -= label;
    }
    return local + "@" + domain + tld;
}

void expect_log_clean(const HostProcess& host, const std::string& which) {
    std::string log = host.log();
    for (const auto& pw : secrets())
        EXPECT_EQ(log.find(pw), std::string::npos) << which << " log contains a password: " << pw;
    EXPECT_EQ(log.find("$argon2id$"), std::string::npos) << which << " log contains a password hash";
}

HttpResponse create_user(int port, const std::string& name, const std::string& email, const std::string& pw) {
    return http_post_json(port, "/users/create", {{"name", name}, {"email", email}, {"password", pw}});
}
HttpResponse login(int port, const std::string& email, const std::string& pw) {
    return http_post_json(port, "/users/login", {{"email", email}, {"password", pw}});
}
HttpResponse me(int port, const std::string& token) {
    return http_get(port, "/users/me", {{"Authorization", "Bearer " + token}});
}

// PHC string $argon2id$v=19$m=M,t=T,p=P$salt$hash
struct Phc {
    int v = 0;
    long m = 0;
    int t = 0;
    int p = 0;
    std::string salt_b64, hash_b64;
};
std::optional<Phc> parse_phc(const std::string& s) {
    static const std::regex re(R"(^\$argon2id\$v=(\d+)\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$)");
    std::smatch m;
    if (!std::regex_match(s, m, re)) return std::nullopt;
    Phc phc;
    phc.v = std::stoi(m[1]);
    phc.m = std::stol(m[2]);
    phc.t = std::stoi(m[3]);
    phc.p = std::stoi(m[4]);
    phc.salt_b64 = m[5];
    phc.hash_b64 = m[6];
    return phc;
}

// Recomputes the stored PHC string with Debian's argon2 CLI (an implementation
// independent of the plugin's) and compares it exactly.
void expect_independent_argon2(const std::string& stored, const std::string& password) {
    auto phc = parse_phc(stored);
    ASSERT_TRUE(phc) << "not an argon2id PHC string: " << stored;
    EXPECT_EQ(phc->v, 19) << stored;
    EXPECT_GE(phc->m, 19456) << stored;
    EXPECT_GE(phc->t, 2) << stored;
    EXPECT_GE(phc->p, 1) << stored;
    auto salt = b64_decode(phc->salt_b64);
    auto hash = b64_decode(phc->hash_b64);
    ASSERT_TRUE(salt && hash) << stored;
    EXPECT_GE(salt->size(), 8u) << stored;
    EXPECT_GE(hash->size(), 16u) << stored;
    ASSERT_TRUE(std::all_of(salt->begin(), salt->end(), [](char c) { return c >= 0x20 && c <= 0x7e; }))
        << "salt bytes are not printable ASCII, the argon2 CLI cannot take them: " << stored;
    const std::string cli = "/usr/bin/argon2";
    ASSERT_EQ(::access(cli.c_str(), X_OK), 0) << cli << " is missing: install Debian's `argon2` package";
    auto r = HostProcess::run({*salt, "-id", "-t", std::to_string(phc->t), "-k", std::to_string(phc->m), "-p",
                               std::to_string(phc->p), "-l", std::to_string(hash->size()), "-e"},
                              {}, 30s, password, cli);
    ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
    std::string out = r.out;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    EXPECT_EQ(out, stored) << "argon2 CLI disagrees with the stored hash";
}

}  // namespace

// ------------------------------------------------------- the shared host --

class Users : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        db_ = new TestDatabase();
        // Throttling is tested on hosts of its own; here it must never get in the way.
        host_ = start_host(*db_, users_env({{"LOG_LEVEL", "debug"},
                                            {"OMS_LOGIN_MAX_FAILURES", "1000"},
                                            {"OMS_LOGIN_MAX_FAILURES_PER_ADDRESS", "1000"}}))
                    .release();
    }
    static void TearDownTestSuite() {
        delete host_;
        host_ = nullptr;
        delete db_;
        db_ = nullptr;
    }
    void SetUp() override { ASSERT_NE(host_, nullptr) << "the shared host did not start"; }

    static int port() { return host_->port(); }

    static std::string token_for(const std::string& email, const std::string& pw) {
        auto r = login(port(), email, pw);
        EXPECT_EQ(r.status, 200) << r;
        return r.status == 200 ? r.json().value("token", "") : "";
    }
    static HostProcess::RunResult cli(std::vector<std::string> args, std::map<std::string, std::string> extra = {},
                                      std::string stdin_data = "") {
        std::map<std::string, std::string> env = users_env({{"LOG_LEVEL", "warn"}});
        for (auto& [k, v] : extra) env[k] = v;
        return HostProcess::run(std::move(args), host_env(*db_, env), 30s, std::move(stdin_data));
    }
    static std::string stored_hash(const std::string& email) {
        auto rows = db_->query("SELECT password_hash FROM users WHERE lower(email) = lower($1)", {email});
        EXPECT_EQ(rows.size(), 1u) << rows;
        return rows.size() == 1 && rows[0]["password_hash"].is_string() ? rows[0]["password_hash"].get<std::string>()
                                                                        : "";
    }

    static inline TestDatabase* db_ = nullptr;
    static inline HostProcess* host_ = nullptr;
};

// --- sign-up ---

TEST_F(Users, CreateReturns201WithTheUserAndNoSecret) {
    std::string pw = secret("Create-Pw-71d3f");
    std::string email = unique_email("create");
    auto r = create_user(port(), "Ada Lovelace", email, pw);
    ASSERT_EQ(r.status, 201) << r;
    EXPECT_TRUE(starts_with(r.header("Content-Type"), "application/json")) << r;
    auto j = r.json();
    expect_user_shape(j, r.body);
    EXPECT_EQ(j["name"], "Ada Lovelace");
    EXPECT_EQ(lower(j.value("email", "")), lower(email));
    EXPECT_EQ(j["role"], "customer");
    EXPECT_EQ(r.body.find(pw), std::string::npos) << r;

    auto rows = db_->query("SELECT id::text AS id, role FROM users WHERE lower(email) = lower($1)", {email});
    ASSERT_EQ(rows.size(), 1u) << rows;
    EXPECT_EQ(rows[0]["id"], j["id"]);
    EXPECT_EQ(rows[0]["role"], "customer");
    // The stored hash is not the password.
    EXPECT_NE(stored_hash(email).find("$argon2id$"), std::string::npos);
    EXPECT_EQ(stored_hash(email).find(pw), std::string::npos);
}

TEST_F(Users, CreateIgnoresRoleAndIdInTheBody) {
    std::string pw = secret("Sneaky-Admin-Pw-9");
    std::string email = unique_email("sneaky");
    const std::string chosen_id = "3f0e9a3c-1f1b-4b7e-9b7a-2d3c4e5f6a7b";
    auto r = http_post_json(port(), "/users/create",
                            {{"name", "Mallory"},
                             {"email", email},
                             {"password", pw},
                             {"role", "admin"},
                             {"id", chosen_id},
                             {"created_at", "2000-01-01T00:00:00Z"}});
    ASSERT_EQ(r.status, 201) << r;
    auto j = r.json();
    EXPECT_EQ(j["role"], "customer") << r;
    EXPECT_NE(j.value("id", ""), chosen_id) << r;
    EXPECT_TRUE(is_uuid(j.value("id", ""))) << r;
    EXPECT_NE(j.value("created_at", ""), "2000-01-01T00:00:00Z") << r;
    EXPECT_EQ(db_->query("SELECT role FROM users WHERE lower(email) = lower($1)", {email})[0]["role"], "customer");
    EXPECT_EQ(db_->query("SELECT count(*) AS n FROM users WHERE id::text = $1", {chosen_id})[0]["n"], "0");
    // And the token says customer too.
    auto t = login(port(), email, pw);
    ASSERT_EQ(t.status, 200) << t;
    EXPECT_EQ(t.json()["user"]["role"], "customer");
    EXPECT_EQ(decode_part(split_token(t.json().value("token", "..")).at(1)).value("role", ""), "customer");
}

TEST_F(Users, ValidationListsEachBadField) {
    const std::string before = db_->scalar("SELECT count(*) FROM users");
    const std::string good_pw = secret("Valid-Pass-8c1e");
    auto body = [&](json patch) {
        json b = {{"name", "Val Idation"}, {"email", unique_email("val")}, {"password", good_pw}};
        for (auto& [k, v] : patch.items()) {
            if (v.is_string() && v.get<std::string>() == "<omit>") b.erase(k);
            else b[k] = v;
        }
        return b;
    };
    auto post = [&](const json& b) { return http_post_json(port(), "/users/create", b); };

    struct Case {
        std::string what;
        json patch;
        std::set<std::string> fields;
    };
    std::vector<Case> cases = {
        // name
        {"name missing", {{"name", "<omit>"}}, {"name"}},
        {"name empty", {{"name", ""}}, {"name"}},
        {"name only spaces", {{"name", "    "}}, {"name"}},
        {"name 101 chars", {{"name", std::string(101, 'n')}}, {"name"}},
        {"name 101 chars after trimming", {{"name", "  " + std::string(101, 'n') + "  "}}, {"name"}},
        {"name a number", {{"name", 42}}, {"name"}},
        {"name null", {{"name", nullptr}}, {"name"}},
        {"name an array", {{"name", json::array({"a"})}}, {"name"}},
        // email
        {"email missing", {{"email", "<omit>"}}, {"email"}},
        {"email empty", {{"email", ""}}, {"email"}},
        {"email only spaces", {{"email", "   "}}, {"email"}},
        {"email without @", {{"email", "plainaddress.example.com"}}, {"email"}},
        {"email with two @", {{"email", "two@@example.com"}}, {"email"}},
        {"email with @ twice", {{"email", "a@b@example.com"}}, {"email"}},
        {"email with a space", {{"email", "with space@example.com"}}, {"email"}},
        {"email without a dot in the domain", {{"email", "user@localhost"}}, {"email"}},
        {"email without local part", {{"email", "@example.com"}}, {"email"}},
        {"email without domain", {{"email", "user@"}}, {"email"}},
        {"email 255 chars", {{"email", email_of_length(255, "x")}}, {"email"}},
        {"email a boolean", {{"email", true}}, {"email"}},
        {"email an object", {{"email", {{"a", "b@c.com"}}}}, {"email"}},
        // password
        {"password missing", {{"password", "<omit>"}}, {"password"}},
        {"password empty", {{"password", ""}}, {"password"}},
        {"password 7 chars", {{"password", secret("Sh0rt!q")}}, {"password"}},
        {"password 129 chars", {{"password", secret("Too-Long-" + std::string(120, 'L'))}}, {"password"}},
        {"password a number", {{"password", 12345678}}, {"password"}},
        {"password null", {{"password", nullptr}}, {"password"}},
        // several
        {"three bad fields", {{"name", ""}, {"email", "bad"}, {"password", secret("tiny-1")}},
         {"name", "email", "password"}},
        {"two bad fields", {{"email", 5}, {"password", "<omit>"}}, {"email", "password"}},
    };
    ASSERT_EQ(email_of_length(255, "x").size(), 255u);
    for (auto& c : cases) expect_validation(post(body(c.patch)), c.fields, c.what);
    expect_validation(post(json::object()), {"name", "email", "password"}, "empty object");
    EXPECT_EQ(db_->scalar("SELECT count(*) FROM users"), before) << "an invalid sign-up created a user";

    // The limits themselves are accepted.
    std::string e254 = email_of_length(254, "ok");
    ASSERT_EQ(e254.size(), 254u);
    auto ok_email = post(body({{"email", e254}}));
    EXPECT_EQ(ok_email.status, 201) << "254-char email: " << ok_email;
    auto ok_name = post(body({{"name", "  " + std::string(100, 'n') + "  "}}));
    EXPECT_EQ(ok_name.status, 201) << "100-char name with spaces around: " << ok_name;
    // Characters, not bytes: 100 two-byte characters are a valid name, 101 are not.
    std::string e_acute = "\xC3\xA9";  // U+00E9
    std::string name100, name101;
    for (int i = 0; i < 100; ++i) name100 += e_acute;
    name101 = name100 + e_acute;
    auto ok_name_utf8 = post(body({{"name", name100}}));
    EXPECT_EQ(ok_name_utf8.status, 201) << "100 two-byte characters: " << ok_name_utf8;
    if (ok_name_utf8.status == 201) {
        EXPECT_EQ(ok_name_utf8.json()["name"], name100);
    }
    expect_validation(post(body({{"name", name101}})), {"name"}, "name of 101 two-byte characters");
    auto ok_name1 = post(body({{"name", "N"}}));
    EXPECT_EQ(ok_name1.status, 201) << "1-char name: " << ok_name1;
    std::string pw8 = secret("Eight8!x");
    std::string e8 = unique_email("pw8");
    auto ok_pw8 = post(body({{"email", e8}, {"password", pw8}}));
    EXPECT_EQ(ok_pw8.status, 201) << "8-char password: " << ok_pw8;
    EXPECT_EQ(login(port(), e8, pw8).status, 200);
    std::string pw128 = secret("Max-Len-" + std::string(120, 'M'));
    ASSERT_EQ(pw128.size(), 128u);
    std::string e128 = unique_email("pw128");
    auto ok_pw128 = post(body({{"email", e128}, {"password", pw128}}));
    EXPECT_EQ(ok_pw128.status, 201) << "128-char password: " << ok_pw128;
    // All 128 characters count: one changed at the end is a wrong password.
    EXPECT_EQ(login(port(), e128, pw128).status, 200);
    std::string pw128b = secret(pw128.substr(0, 127) + "X");
    EXPECT_EQ(login(port(), e128, pw128b).status, 401);
}

TEST_F(Users, SameEmailInAnotherCaseIs409AndEmailIsStoredTrimmed) {
    std::string pw = secret("Dup-Pass-0a9b");
    std::string email = "Mixed.Case." + std::to_string(now_s()) + "@Example.COM";
    auto first = create_user(port(), "First", "  " + email + "  ", pw);
    ASSERT_EQ(first.status, 201) << first;
    EXPECT_EQ(lower(first.json().value("email", "")), lower(email)) << "email not trimmed: " << first;
    auto rows = db_->query("SELECT email FROM users WHERE lower(email) = lower($1)", {email});
    ASSERT_EQ(rows.size(), 1u) << "stored email is not the trimmed one: " << rows;
    EXPECT_EQ(lower(rows[0]["email"].get<std::string>()), lower(email));

    std::string pw2 = secret("Dup-Pass-Other-2");
    for (const std::string& again : {lower(email), upper(email), email, " " + lower(email) + " "}) {
        auto r = create_user(port(), "Second", again, pw2);
        expect_problem(r, 409, "email_taken");
    }
    EXPECT_EQ(db_->query("SELECT count(*) AS n FROM users WHERE lower(email) = lower($1)", {email})[0]["n"], "1");
    // Login is case-insensitive too, and the first password still holds.
    EXPECT_EQ(login(port(), upper(email), pw).status, 200);
    EXPECT_EQ(login(port(), lower(email), pw2).status, 401);
}

TEST_F(Users, ConcurrentSignUpsOfOneEmailCreateOneAccount) {
    std::string email = unique_email("Race");
    std::string pw = secret("Race-Pass-Conc-1");
    std::vector<std::future<HttpResponse>> futures;
    for (const std::string& as : {email, lower(email), upper(email), " " + email})
        futures.push_back(std::async(std::launch::async, [as, pw] { return create_user(port(), "Racer", as, pw); }));
    int created = 0, taken = 0;
    for (auto& f : futures) {
        auto r = f.get();
        if (r.status == 201) ++created;
        else {
            expect_problem(r, 409, "email_taken");
            ++taken;
        }
    }
    EXPECT_EQ(created, 1);
    EXPECT_EQ(taken, 3);
    EXPECT_EQ(db_->query("SELECT count(*) AS n FROM users WHERE lower(email) = lower($1)", {email})[0]["n"], "1");
}

// Whatever notion of "same email" sign-up uses, login uses the same one: an
// email that sign-up refuses as taken in another spelling logs in with it.
TEST_F(Users, NonAsciiEmailsAreCaseInsensitiveConsistently) {
    std::string stamp = std::to_string(now_s());
    std::string email = "Zo\xC3\xAB." + stamp + "@example.com";     // "Zoë.<n>@example.com"
    std::string shouted = "ZO\xC3\x8B." + stamp + "@EXAMPLE.COM";  // "ZOË.<n>@EXAMPLE.COM"
    std::string pw = secret("Unicode-Mail-Pass-1");
    auto first = create_user(port(), "Zo\xC3\xAB", email, pw);
    if (first.status == 400) GTEST_SKIP() << "non-ASCII emails are refused at sign-up: " << first;
    ASSERT_EQ(first.status, 201) << first;
    EXPECT_EQ(login(port(), email, pw).status, 200);
    auto second = create_user(port(), "Zo\xC3\xAB Again", shouted, secret("Unicode-Mail-Pass-2"));
    if (second.status == 409) {
        auto l = login(port(), shouted, pw);
        EXPECT_EQ(l.status, 200) << "sign-up says " << shouted << " is the account " << email
                                 << " (409), but login with it fails: " << l;
    } else {
        EXPECT_EQ(second.status, 201) << second;
        EXPECT_EQ(login(port(), shouted, pw).status, 401);
    }
}

// --- login and tokens ---

// Tokens are checked on every worker at once. Poco 1.11's OpenSSL
// initializer, reference-counted by every crypto object, once crashed the host
// here (SIGSEGV when concurrent releases reached zero, seen in bench/run.sh at
// ~4,700 requests/s); the host now holds a reference for its whole life.
TEST_F(Users, ConcurrentAuthenticatedRequestsAndLoginsKeepTheHostUp) {
    std::string email = unique_email("Busy"), pw = secret("Busy-Pass-Conc-1");
    ASSERT_EQ(create_user(port(), "Busy", email, pw).status, 201);
    std::string token = token_for(email, pw);
    std::atomic<int> ok{0}, bad{0};
    std::mutex mu;
    std::vector<std::string> failures;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            try {
                HttpConnection c(port());  // keep-alive: the load lands on the workers, not on accept
                for (int i = 0; i < 400; ++i) {
                    auto r = c.request("GET", "/users/me", {}, {{"Authorization", "Bearer " + token}});
                    (r.status == 200 ? ok : bad)++;
                    if (t == 0 && i % 100 == 0) {  // signs tokens meanwhile
                        auto l = login(port(), email, pw);
                        (l.status == 200 ? ok : bad)++;
                        if (l.status != 200) {
                            std::lock_guard lock(mu);
                            failures.push_back("login: " + std::to_string(l.status) + " " + l.body);
                        }
                    }
                }
            } catch (const std::exception& e) {
                std::lock_guard lock(mu);
                failures.push_back(std::string("thread ") + std::to_string(t) + ": " + e.what());
            }
        });
    for (auto& th : threads) th.join();
    for (const auto& f : failures) ADD_FAILURE() << f;
    if (!failures.empty()) ADD_FAILURE() << "the host's log:\n" << host_->log();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_EQ(ok.load(), 8 * 400 + 4);
    EXPECT_EQ(http_get(port(), "/health/live").status, 200);
}

TEST_F(Users, LoginReturnsABearerTokenAndTheUser) {
    std::string pw = secret("Login-Pass-55ee");
    std::string email = unique_email("Login.Case");
    auto created = create_user(port(), "Grace Hopper", email, pw);
    ASSERT_EQ(created.status, 201) << created;
    auto u = created.json();

    for (const std::string& as : {email, upper(email), lower(email)}) {
        auto r = login(port(), as, pw);
        ASSERT_EQ(r.status, 200) << as << ": " << r;
        auto j = r.json();
        EXPECT_TRUE(j.contains("token") && j["token"].is_string() && !j["token"].get<std::string>().empty()) << r;
        EXPECT_EQ(j.value("token_type", ""), "Bearer") << r;
        EXPECT_TRUE(j.contains("expires_in") && j["expires_in"].is_number_integer() &&
                    j["expires_in"].get<int64_t>() > 0)
            << r;
        ASSERT_TRUE(j.contains("user")) << r;
        expect_user_shape(j["user"], r.body);
        for (auto k : {"id", "name", "email", "role", "created_at"}) EXPECT_EQ(j["user"][k], u[k]) << k << ": " << r;
        EXPECT_EQ(r.body.find(pw), std::string::npos) << r;
    }
}

TEST_F(Users, IssuedTokenIsHs256WithSubRoleIatExp) {
    std::string pw = secret("Claims-Pass-3141");
    std::string email = unique_email("claims");
    auto u = create_user(port(), "Claims", email, pw).json();
    auto r = login(port(), email, pw);
    ASSERT_EQ(r.status, 200) << r;
    auto j = r.json();
    auto parts = split_token(j.value("token", ""));
    ASSERT_EQ(parts.size(), 3u) << r;
    auto header = decode_part(parts[0]);
    auto payload = decode_part(parts[1]);
    ASSERT_TRUE(header.is_object()) << parts[0];
    ASSERT_TRUE(payload.is_object()) << parts[1];
    EXPECT_EQ(header.value("alg", ""), "HS256") << header;
    EXPECT_EQ(payload.value("sub", ""), u.value("id", "?")) << payload;
    EXPECT_EQ(payload.value("role", ""), "customer") << payload;
    ASSERT_TRUE(payload.contains("iat") && payload["iat"].is_number()) << payload;
    ASSERT_TRUE(payload.contains("exp") && payload["exp"].is_number()) << payload;
    auto iat = payload["iat"].get<int64_t>();
    auto exp = payload["exp"].get<int64_t>();
    EXPECT_LE(std::llabs(iat - now_s()), 60) << payload;
    EXPECT_EQ(exp - iat, j["expires_in"].get<int64_t>()) << payload << " vs " << r;
    EXPECT_EQ(payload.dump().find(pw), std::string::npos);
    // The signature is HMAC-SHA256 with the host's secret: our forger agrees.
    EXPECT_EQ(b64url_encode(hmac(EVP_sha256(), kTestJwtSecret, parts[0] + "." + parts[1])), parts[2]);
}

TEST_F(Users, WrongPasswordAndUnknownEmailAreTheSame401) {
    std::string pw = secret("Right-Pass-77aa");
    std::string email = unique_email("wrongpw");
    ASSERT_EQ(create_user(port(), "Victim", email, pw).status, 201);

    auto wrong = login(port(), email, secret("Wrong-Pass-77aa"));
    auto unknown = login(port(), unique_email("nobody"), secret("Whatever-Pass-1"));
    expect_problem(wrong, 401, "invalid_credentials");
    expect_problem(unknown, 401, "invalid_credentials");
    EXPECT_EQ(wrong.header("WWW-Authenticate"), "Bearer") << wrong;
    EXPECT_EQ(unknown.header("WWW-Authenticate"), "Bearer") << unknown;
    EXPECT_EQ(without_request_id(wrong.json()), without_request_id(unknown.json()))
        << "wrong password:\n" << wrong << "\nunknown email:\n" << unknown;
    EXPECT_EQ(wrong.header("Content-Type"), unknown.header("Content-Type"));
    EXPECT_EQ(wrong.body.find(pw), std::string::npos);
}

TEST_F(Users, UnknownEmailCostsAsMuchAsAWrongPassword) {
    std::string pw = secret("Timing-Pass-9f8e");
    std::string email = unique_email("timing");
    ASSERT_EQ(create_user(port(), "Timing", email, pw).status, 201);
    std::string wrong_pw = secret("Timing-Wrong-9f8e");

    auto time_login = [&](const std::string& e, const std::string& p) {
        auto t0 = std::chrono::steady_clock::now();
        auto r = login(port(), e, p);
        auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        EXPECT_EQ(r.status, 401) << r;
        return ms;
    };
    // Interleaved so that load on the machine hits both alike; one retry
    // round before calling it a failure, as timings on a busy machine jitter.
    double ratio = 0, med_unknown = 0, med_wrong = 0;
    for (int round = 0; round < 2; ++round) {
        time_login(unique_email("warmup"), wrong_pw);
        time_login(email, wrong_pw);
        std::vector<double> unknown_ms, wrong_ms;
        for (int i = 0; i < 5; ++i) {
            unknown_ms.push_back(time_login(unique_email("ghost"), wrong_pw));
            wrong_ms.push_back(time_login(email, wrong_pw));
        }
        med_unknown = median(unknown_ms);
        med_wrong = median(wrong_ms);
        ratio = med_wrong > 0 ? med_unknown / med_wrong : 0;
        if (ratio >= 0.5 && ratio <= 2.0) break;
    }
    EXPECT_GE(ratio, 0.5) << "unknown email " << med_unknown << " ms vs wrong password " << med_wrong << " ms";
    EXPECT_LE(ratio, 2.0) << "unknown email " << med_unknown << " ms vs wrong password " << med_wrong << " ms";
}

TEST_F(Users, MeReturnsTheCaller) {
    std::string pw = secret("Me-Pass-c0ffee");
    std::string email = unique_email("me");
    auto created = create_user(port(), "Alan Turing", email, pw);
    ASSERT_EQ(created.status, 201) << created;
    auto u = created.json();
    auto r = me(port(), token_for(email, pw));
    ASSERT_EQ(r.status, 200) << r;
    expect_user_shape(r.json(), r.body);
    for (auto k : {"id", "name", "email", "role", "created_at"}) EXPECT_EQ(r.json()[k], u[k]) << k << ": " << r;
}

TEST_F(Users, MeWithoutATokenIs401WithChallenge) {
    auto r = http_get(port(), "/users/me");
    EXPECT_EQ(r.status, 401) << r;
    EXPECT_EQ(r.header("Content-Type"), "application/problem+json") << r;
    EXPECT_EQ(r.header("WWW-Authenticate"), "Bearer") << r;
}

TEST_F(Users, ForgedTokenWithTheRightKeyIsAcceptedAndItsRoleIsNotTrusted) {
    std::string pw = secret("Forge-Pass-1234");
    std::string email = unique_email("forge");
    auto u = create_user(port(), "Forged", email, pw).json();
    std::string id = u.value("id", "");
    ASSERT_FALSE(id.empty());

    auto ok = me(port(), forge(hs256_header(), claims(id, "customer", now_s(), now_s() + 600), kTestJwtSecret));
    ASSERT_EQ(ok.status, 200) << "a correctly forged HS256 token was refused (helper or host bug): " << ok;
    EXPECT_EQ(ok.json()["id"], id);

    // role "admin" in the token of a customer: the database's role wins.
    auto elevated = me(port(), forge(hs256_header(), claims(id, "admin", now_s(), now_s() + 600), kTestJwtSecret));
    ASSERT_EQ(elevated.status, 200) << elevated;
    EXPECT_EQ(elevated.json()["role"], "customer") << elevated;
}

TEST_F(Users, BadTokensAre401) {
    std::string pw = secret("Tokens-Pass-4242");
    std::string email = unique_email("tokens");
    auto u = create_user(port(), "Tokens", email, pw).json();
    auto other = create_user(port(), "Other", unique_email("other"), secret("Other-Pass-4242")).json();
    std::string id = u.value("id", "");
    std::string token = token_for(email, pw);
    auto parts = split_token(token);
    ASSERT_EQ(parts.size(), 3u) << token;
    ASSERT_EQ(me(port(), token).status, 200);

    const int64_t now = now_s();
    std::vector<std::pair<std::string, std::string>> bad;
    {
        std::string sig = parts[2];
        sig[0] = sig[0] == 'A' ? 'B' : 'A';
        bad.emplace_back("tampered signature", parts[0] + "." + parts[1] + "." + sig);
    }
    {
        auto payload = decode_part(parts[1]);
        payload["role"] = "admin";
        bad.emplace_back("tampered payload (role), old signature",
                         parts[0] + "." + b64url_encode(payload.dump()) + "." + parts[2]);
        payload = decode_part(parts[1]);
        payload["sub"] = other.value("id", "");
        bad.emplace_back("tampered payload (sub), old signature",
                         parts[0] + "." + b64url_encode(payload.dump()) + "." + parts[2]);
    }
    bad.emplace_back("expired", forge(hs256_header(), claims(id, "customer", now - 3600, now - 60), kTestJwtSecret));
    bad.emplace_back("alg none", b64url_encode(json{{"alg", "none"}, {"typ", "JWT"}}.dump()) + "." +
                                     b64url_encode(claims(id, "customer", now, now + 600).dump()) + ".");
    bad.emplace_back("HS512 with the right secret",
                     forge(json{{"alg", "HS512"}, {"typ", "JWT"}}, claims(id, "customer", now, now + 600),
                           kTestJwtSecret, EVP_sha512()));
    bad.emplace_back("HS256 with a guessable key",
                     forge(hs256_header(), claims(id, "customer", now, now + 600), "secret"));
    bad.emplace_back("sub of no user", forge(hs256_header(),
                                             claims("7d444840-9dc0-41d1-b245-5ffdce74fad2", "customer", now, now + 600),
                                             kTestJwtSecret));
    bad.emplace_back("sub not a uuid",
                     forge(hs256_header(), claims("not-a-uuid", "customer", now, now + 600), kTestJwtSecret));
    bad.emplace_back("sub an injection attempt",
                     forge(hs256_header(), claims("' OR '1'='1", "admin", now, now + 600), kTestJwtSecret));
    bad.emplace_back("malformed", "not-a-token");
    bad.emplace_back("malformed three parts", "a.b.c");
    bad.emplace_back("header and payload only", parts[0] + "." + parts[1]);
    for (auto& [what, t] : bad) expect_401_challenge(me(port(), t), what);

    // Other schemes and an empty bearer are no login either.
    expect_401_challenge(http_get(port(), "/users/me", {{"Authorization", "Bearer "}}), "empty bearer");
    expect_401_challenge(http_get(port(), "/users/me", {{"Authorization", "Basic dXNlcjpwYXNz"}}), "basic");
}

// --- roles from the CLI ---

TEST_F(Users, CreateAdminFromStdinOrEnvironment) {
    std::string email = unique_email("Admin.Stdin");
    std::string pw = secret("Admin-Stdin-Pass-1");
    auto r = cli({"users", "create-admin", "--email", email, "--name", "Root Admin"}, {},
                 pw + "\nthis second line is not the password\n");
    ASSERT_EQ(r.exit_code, 0) << "stdout: " << r.out << "\nstderr: " << r.err;
    auto l = login(port(), email, pw);
    ASSERT_EQ(l.status, 200) << l;
    EXPECT_EQ(l.json()["user"]["role"], "admin") << l;
    EXPECT_EQ(l.json()["user"]["name"], "Root Admin") << l;
    EXPECT_EQ(decode_part(split_token(l.json().value("token", "..")).at(1)).value("role", ""), "admin");
    auto m = me(port(), l.json().value("token", ""));
    ASSERT_EQ(m.status, 200) << m;
    EXPECT_EQ(m.json()["role"], "admin");

    std::string email2 = unique_email("admin.env");
    std::string pw2 = secret("Admin-Env-Pass-2");
    auto r2 = cli({"users", "create-admin", "--email", email2, "--name", "Env Admin"}, {{"OMS_ADMIN_PASSWORD", pw2}});
    ASSERT_EQ(r2.exit_code, 0) << "stdout: " << r2.out << "\nstderr: " << r2.err;
    auto l2 = login(port(), email2, pw2);
    ASSERT_EQ(l2.status, 200) << l2;
    EXPECT_EQ(l2.json()["user"]["role"], "admin") << l2;

    // The CLI's own output never shows the password.
    for (auto* x : {&r, &r2}) {
        EXPECT_EQ(x->out.find(pw), std::string::npos) << x->out;
        EXPECT_EQ(x->err.find(pw), std::string::npos) << x->err;
        EXPECT_EQ(x->out.find(pw2), std::string::npos) << x->out;
        EXPECT_EQ(x->err.find(pw2), std::string::npos) << x->err;
    }
}

TEST_F(Users, CreateAdminRefusesExistingEmailsBadPasswordsAndArgvPasswords) {
    std::string email = unique_email("exists");
    std::string pw = secret("Exists-Pass-77");
    ASSERT_EQ(create_user(port(), "Already Here", email, pw).status, 201);

    auto dup = cli({"users", "create-admin", "--email", upper(email), "--name", "Dup"},
                   {{"OMS_ADMIN_PASSWORD", secret("Dup-Admin-Pass-9")}});
    EXPECT_EQ(dup.exit_code, 2) << "stdout: " << dup.out << "\nstderr: " << dup.err;
    EXPECT_TRUE(one_line(dup.err)) << "stderr: " << dup.err;
    EXPECT_EQ(db_->query("SELECT role FROM users WHERE lower(email) = lower($1)", {email})[0]["role"], "customer")
        << "create-admin on an existing email changed its role";
    EXPECT_EQ(login(port(), email, pw).status, 200) << "create-admin on an existing email changed its password";

    // The password is never taken from argv.
    std::string argv_email = unique_email("argv");
    auto argv = cli({"users", "create-admin", "--email", argv_email, "--name", "Argv", "--password", "x"});
    EXPECT_EQ(argv.exit_code, 2) << "stdout: " << argv.out << "\nstderr: " << argv.err;
    EXPECT_EQ(db_->query("SELECT count(*) AS n FROM users WHERE lower(email) = lower($1)", {argv_email})[0]["n"], "0");

    // No password at all (empty stdin, no env), or a too short one: no user.
    std::string none_email = unique_email("nopw");
    auto none = cli({"users", "create-admin", "--email", none_email, "--name", "No Password"});
    EXPECT_NE(none.exit_code, 0) << "stdout: " << none.out << "\nstderr: " << none.err;
    std::string short_email = unique_email("shortpw");
    auto shortpw = cli({"users", "create-admin", "--email", short_email, "--name", "Short"}, {}, "Sh0rt!\n");
    EXPECT_NE(shortpw.exit_code, 0) << "stdout: " << shortpw.out << "\nstderr: " << shortpw.err;
    EXPECT_EQ(db_->query("SELECT count(*) AS n FROM users WHERE lower(email) IN (lower($1), lower($2))",
                         {none_email, short_email})[0]["n"],
              "0");
}

TEST_F(Users, SetRoleChangesTheRoleAndOldTokensSeeIt) {
    std::string email = unique_email("Promote.Me");
    std::string pw = secret("Promote-Pass-31");
    auto created = create_user(port(), "Promoted", email, pw);
    ASSERT_EQ(created.status, 201) << created;
    std::string old_token = token_for(email, pw);
    ASSERT_EQ(me(port(), old_token).json().value("role", ""), "customer");

    auto r = cli({"users", "set-role", upper(email), "admin"});
    ASSERT_EQ(r.exit_code, 0) << "stdout: " << r.out << "\nstderr: " << r.err;
    auto l = login(port(), email, pw);
    ASSERT_EQ(l.status, 200) << l;
    EXPECT_EQ(l.json()["user"]["role"], "admin") << l;
    EXPECT_EQ(decode_part(split_token(l.json().value("token", "..")).at(1)).value("role", ""), "admin");
    // The old token still says customer, but the role comes from the database.
    EXPECT_EQ(decode_part(split_token(old_token).at(1)).value("role", ""), "customer");
    auto m = me(port(), old_token);
    ASSERT_EQ(m.status, 200) << m;
    EXPECT_EQ(m.json()["role"], "admin") << m;

    // And back: a fresh admin token now answers customer.
    auto back = cli({"users", "set-role", email, "customer"});
    ASSERT_EQ(back.exit_code, 0) << "stdout: " << back.out << "\nstderr: " << back.err;
    auto m2 = me(port(), l.json().value("token", ""));
    ASSERT_EQ(m2.status, 200) << m2;
    EXPECT_EQ(m2.json()["role"], "customer") << m2;

    // A bad role or an unknown email: exit 2, one line on stderr, nothing changed.
    auto bad_role = cli({"users", "set-role", email, "superuser"});
    EXPECT_EQ(bad_role.exit_code, 2) << "stdout: " << bad_role.out << "\nstderr: " << bad_role.err;
    EXPECT_TRUE(one_line(bad_role.err)) << "stderr: " << bad_role.err;
    EXPECT_EQ(db_->query("SELECT role FROM users WHERE lower(email) = lower($1)", {email})[0]["role"], "customer");
    auto unknown = cli({"users", "set-role", unique_email("ghost"), "admin"});
    EXPECT_EQ(unknown.exit_code, 2) << "stdout: " << unknown.out << "\nstderr: " << unknown.err;
    EXPECT_TRUE(one_line(unknown.err)) << "stderr: " << unknown.err;
}

// --- administration over HTTP ---

TEST_F(Users, AdminsChangeRolesAndDeleteAccountsOverHttp) {
    std::string admin_email = unique_email("http.admin");
    std::string admin_pw = secret("Http-Admin-Pass-1");
    auto made = cli({"users", "create-admin", "--email", admin_email, "--name", "Http Admin"},
                    {{"OMS_ADMIN_PASSWORD", admin_pw}});
    ASSERT_EQ(made.exit_code, 0) << "stdout: " << made.out << "\nstderr: " << made.err;
    auto admin_login = login(port(), admin_email, admin_pw);
    ASSERT_EQ(admin_login.status, 200) << admin_login;
    std::string admin = admin_login.json()["token"], admin_id = admin_login.json()["user"]["id"];
    HeaderList as_admin{{"Authorization", "Bearer " + admin}};

    std::string email = unique_email("managed");
    std::string pw = secret("Managed-Pass-77");
    auto created = create_user(port(), "Managed", email, pw);
    ASSERT_EQ(created.status, 201) << created;
    std::string id = created.json()["id"];
    std::string token = token_for(email, pw);
    HeaderList as_customer{{"Authorization", "Bearer " + token}};
    auto set_role = [&](const std::string& who, const json& body, const HeaderList& h) {
        return http_post_json(port(), "/users/" + who + "/role", body, h);
    };
    auto remove = [&](const std::string& who, const HeaderList& h) {
        return http_request(port(), "DELETE", "/users/" + who, {}, h);
    };

    // Admins only.
    expect_401_challenge(set_role(id, {{"role", "admin"}}, {}), "role change without a token");
    expect_problem(set_role(id, {{"role", "admin"}}, as_customer), 403, "forbidden");
    expect_problem(remove(admin_id, as_customer), 403, "forbidden");
    expect_401_challenge(remove(id, {}), "delete without a token");

    // Bad roles and bodies, unknown accounts.
    expect_validation(set_role(id, {{"role", "superuser"}}, as_admin), {"role"}, "unknown role");
    expect_validation(set_role(id, json::object(), as_admin), {"role"}, "no role");
    expect_validation(set_role(id, {{"role", 1}}, as_admin), {"role"}, "role not a string");
    expect_problem(set_role(id, json::array(), as_admin), 400, "invalid_body");
    expect_problem(set_role("6f1d2c1e-0000-4000-8000-000000000000", {{"role", "admin"}}, as_admin), 404, "not_found");
    expect_problem(set_role("not-a-uuid", {{"role", "admin"}}, as_admin), 404, "not_found");
    EXPECT_EQ(db_->query("SELECT role FROM users WHERE id = $1::uuid", {id})[0]["role"], "customer");

    // Promote (the path id in any case), again (no change), and the customer's old token sees it.
    auto up = set_role(upper(id), {{"role", "admin"}}, as_admin);
    ASSERT_EQ(up.status, 200) << up;
    expect_user_shape(up.json(), up.body);
    EXPECT_EQ(up.json()["id"], id);
    EXPECT_EQ(up.json()["role"], "admin");
    auto again = set_role(id, {{"role", "admin"}}, as_admin);
    ASSERT_EQ(again.status, 200) << again;
    EXPECT_EQ(again.json()["role"], "admin");
    EXPECT_EQ(me(port(), token).json()["role"], "admin");
    // Past the role check with the token issued while a customer (404: no such account).
    expect_problem(set_role("6f1d2c1e-0000-4000-8000-000000000000", {{"role", "customer"}}, as_customer), 404,
                   "not_found");
    auto down = set_role(id, {{"role", "customer"}}, as_admin);
    ASSERT_EQ(down.status, 200) << down;
    EXPECT_EQ(down.json()["role"], "customer");

    // Never oneself: an admin neither demotes nor deletes their own account.
    expect_problem(set_role(admin_id, {{"role", "customer"}}, as_admin), 409, "cannot_demote_self");
    EXPECT_EQ(set_role(admin_id, {{"role", "admin"}}, as_admin).status, 200);
    expect_problem(remove(admin_id, as_admin), 409, "cannot_delete_self");
    EXPECT_EQ(me(port(), admin).json()["role"], "admin");

    // Delete: 204, the token dies, the email is free again (a new account, a new id).
    auto gone = remove(id, as_admin);
    ASSERT_EQ(gone.status, 204) << gone;
    EXPECT_EQ(gone.body, "") << gone;
    expect_401_challenge(me(port(), token), "the deleted account's token");
    expect_problem(remove(id, as_admin), 404, "not_found");
    expect_problem(remove("not-a-uuid", as_admin), 404, "not_found");
    EXPECT_EQ(login(port(), email, pw).status, 401);
    auto reborn = create_user(port(), "Managed Again", email, pw);
    ASSERT_EQ(reborn.status, 201) << reborn;
    EXPECT_NE(reborn.json()["id"], id);

    // Documented with their schemas.
    auto doc = http_get(port(), "/openapi.json").json();
    auto op = doc["paths"]["/users/{id}/role"]["post"];
    EXPECT_EQ(op["x-oms-role"], "admin") << op;
    EXPECT_EQ(op["requestBody"]["content"]["application/json"]["schema"]["properties"]["role"]["enum"],
              json::array({"customer", "admin"}))
        << op;
    EXPECT_TRUE(op["responses"].contains("200")) << op;
    auto del = doc["paths"]["/users/{id}"]["delete"];
    EXPECT_EQ(del["x-oms-role"], "admin") << del;
    EXPECT_TRUE(del["responses"].contains("204")) << del;
    EXPECT_NE(del["responses"]["409"].dump().find("cannot_delete_self"), std::string::npos) << del;
}

// --- password hashing ---

TEST_F(Users, StoredHashVerifiesWithAnIndependentArgon2) {
    std::string pw = secret("Indep-Verify-Pass-#1 with spaces");
    std::string email = unique_email("argon");
    ASSERT_EQ(create_user(port(), "Argon", email, pw).status, 201);
    std::string stored = stored_hash(email);
    ASSERT_FALSE(stored.empty());
    expect_independent_argon2(stored, pw);
    // Non-ASCII passwords are hashed as their UTF-8 bytes.
    std::string upw = secret("P\xC3\xA4ssw\xC3\xB6rd-\xE2\x82\xAC-unicode");
    std::string uemail = unique_email("argon-utf8");
    ASSERT_EQ(create_user(port(), "Argon UTF-8", uemail, upw).status, 201);
    expect_independent_argon2(stored_hash(uemail), upw);
    EXPECT_EQ(login(port(), uemail, upw).status, 200);
    // Two users with one password get different salts.
    std::string email2 = unique_email("argon2");
    ASSERT_EQ(create_user(port(), "Argon Two", email2, pw).status, 201);
    EXPECT_NE(stored_hash(email2), stored);
}

TEST_F(Users, LoginRehashesWhenTheParametersGrow) {
    std::string pw = secret("Rehash-Pass-2to3");
    std::string email = unique_email("rehash");
    ASSERT_EQ(create_user(port(), "Rehash", email, pw).status, 201);
    std::string before = stored_hash(email);
    EXPECT_NE(before.find(",t=2,"), std::string::npos) << before;

    {
        auto stronger = start_host(*db_, users_env({{"LOG_LEVEL", "debug"}, {"OMS_ARGON2_ITERATIONS", "3"}}));
        ASSERT_NE(stronger, nullptr);
        auto l = login(stronger->port(), email, pw);
        ASSERT_EQ(l.status, 200) << l;
        std::string after = stored_hash(email);
        EXPECT_NE(after.find(",t=3,"), std::string::npos) << "not rehashed on login: " << after;
        EXPECT_NE(after, before);
        expect_independent_argon2(after, pw);
        EXPECT_EQ(login(stronger->port(), email, secret("Rehash-Wrong-2to3")).status, 401);
        expect_log_clean(*stronger, "the t=3 host's");
    }
    // The old host still verifies the new hash.
    auto again = login(port(), email, pw);
    EXPECT_EQ(again.status, 200) << again;
}

// Keep this last in the suite: it reads the log of everything above.
TEST_F(Users, ZzLogHoldsNoPasswordsOrHashes) {
    ASSERT_FALSE(secrets().empty());
    expect_log_clean(*host_, "the shared host's");
}

// --------------------------------------------------------- throttling --

class UsersThrottle : public ::testing::Test {
protected:
    static std::map<std::string, std::string> throttle_env() {
        return users_env({{"LOG_LEVEL", "debug"},
                          {"OMS_LOGIN_MAX_FAILURES", "3"},
                          {"OMS_LOGIN_MAX_FAILURES_PER_ADDRESS", "6"},
                          {"OMS_LOGIN_WINDOW", "2"}});
    }
    void SetUp() override { db_ = std::make_unique<TestDatabase>(); }
    std::unique_ptr<TestDatabase> db_;
};

TEST_F(UsersThrottle, PerEmailLockoutWithRetryAfterThenRecovery) {
    auto host = start_host(*db_, throttle_env());
    ASSERT_NE(host, nullptr);
    int port = host->port();
    std::string email = "Locked.Out@Example.com";
    std::string pw = secret("Throttle-Right-1");
    ASSERT_EQ(create_user(port, "Locked", email, pw).status, 201);
    std::string bystander = "bystander@example.com";
    std::string bystander_pw = secret("Bystander-Pass-1");
    ASSERT_EQ(create_user(port, "Bystander", bystander, bystander_pw).status, 201);

    // Three failures, the email spelt in different cases (it is one account).
    std::string wrong = secret("Throttle-Wrong-1");
    for (const std::string& as : {email, lower(email), upper(email)}) {
        auto r = login(port, as, wrong);
        expect_problem(r, 401, "invalid_credentials");
    }
    auto locked = login(port, email, pw);
    expect_too_many(locked, "4th attempt, right password");
    auto locked_lower = login(port, lower(email), pw);
    expect_too_many(locked_lower, "5th attempt, right password, lower case");

    // Another account from the same address is not locked (3 < 6 failures).
    EXPECT_EQ(login(port, bystander, bystander_pw).status, 200);

    std::this_thread::sleep_for(2500ms);
    auto ok = login(port, email, pw);
    EXPECT_EQ(ok.status, 200) << "still locked after the window: " << ok;
    expect_log_clean(*host, "the throttling host's");
}

// Case variants of one account share one counter, non-ASCII letters included
// (otherwise each spelling would get its own allowance of guesses).
TEST_F(UsersThrottle, NonAsciiCaseVariantsShareOneCounter) {
    auto host = start_host(*db_, throttle_env());
    ASSERT_NE(host, nullptr);
    int port = host->port();
    std::string email = "Zo\xC3\xAB.locked@example.com";  // "Zoë.locked@example.com"
    std::string pw = secret("Throttle-Unicode-Right-1");
    auto created = create_user(port, "Zo\xC3\xAB", email, pw);
    if (created.status == 400) GTEST_SKIP() << "non-ASCII emails are refused at sign-up: " << created;
    ASSERT_EQ(created.status, 201) << created;
    std::string wrong = secret("Throttle-Unicode-Wrong-1");
    for (const std::string& as : {std::string("zo\xC3\xAB.locked@example.com"), std::string("ZO\xC3\x8B.LOCKED@EXAMPLE.COM"),
                                  std::string("Zo\xC3\x8B.Locked@example.com")}) {
        auto r = login(port, as, wrong);
        expect_problem(r, 401, "invalid_credentials");
    }
    expect_too_many(login(port, email, pw), "4th attempt on a non-ASCII email, right password");
    expect_log_clean(*host, "the throttling host's");
}

TEST_F(UsersThrottle, PerAddressLockoutAcrossEmails) {
    auto host = start_host(*db_, throttle_env());
    ASSERT_NE(host, nullptr);
    int port = host->port();
    std::string wrong = secret("Spray-Wrong-Pass-1");
    for (int i = 0; i < 6; ++i) {
        // A client-chosen X-Forwarded-For must not make each attempt a new address.
        auto r = http_post_json(port, "/users/login", {{"email", unique_email("spray")}, {"password", wrong}},
                                {{"X-Forwarded-For", "203.0.113." + std::to_string(i + 1)}});
        expect_problem(r, 401, "invalid_credentials");
    }
    auto r = login(port, unique_email("spray-next"), wrong);
    expect_too_many(r, "7th email from one address");
    expect_log_clean(*host, "the throttling host's");
}

// Each attempt is counted before argon2 runs, in one statement with the
// check (issue 13, item 17): parallel guesses get exactly the allowance, where
// checking first and counting after let up to one guess per worker through.
TEST_F(UsersThrottle, ParallelGuessesNeverExceedTheAllowance) {
    auto host = start_host(*db_, throttle_env());
    ASSERT_NE(host, nullptr);
    int port = host->port();
    std::string email = unique_email("parallel");
    std::string pw = secret("Parallel-Right-1");
    ASSERT_EQ(create_user(port, "Parallel", email, pw).status, 201);
    std::string wrong = secret("Parallel-Wrong-1");
    std::vector<std::future<HttpResponse>> guesses;
    for (int i = 0; i < 12; ++i)
        guesses.push_back(std::async(std::launch::async, [&] { return login(port, email, wrong); }));
    int unauthorized = 0, throttled = 0;
    for (auto& g : guesses) {
        auto r = g.get();
        if (r.status == 401) ++unauthorized;
        else if (r.status == 429) ++throttled;
        else ADD_FAILURE() << r;
    }
    EXPECT_EQ(unauthorized, 3) << "OMS_LOGIN_MAX_FAILURES=3 guesses checked, no more";
    EXPECT_EQ(throttled, 9);
    expect_too_many(login(port, email, pw), "the right password after the parallel guesses");
    // The refused guesses were not counted against the address (3 of its 6).
    EXPECT_EQ(login(port, unique_email("parallel-other"), wrong).status, 401);
    expect_log_clean(*host, "the throttling host's");
}

// Account creation is bounded per client address (issue 13, item 2): a
// sign-up flood from one address is refused before argon2 runs.
TEST_F(UsersThrottle, AccountCreationIsBoundedPerAddress) {
    auto env = throttle_env();
    env["OMS_SIGNUP_MAX_PER_ADDRESS"] = "3";
    env["OMS_SIGNUP_WINDOW"] = "2";
    auto host = start_host(*db_, env);
    ASSERT_NE(host, nullptr);
    int port = host->port();
    std::string pw = secret("Signup-Flood-1");
    for (int i = 0; i < 3; ++i) ASSERT_EQ(create_user(port, "Flood", unique_email("flood"), pw).status, 201);
    expect_too_many(create_user(port, "Flood", unique_email("flood"), pw), "the 4th account from one address");
    std::this_thread::sleep_for(2500ms);
    EXPECT_EQ(create_user(port, "Flood", unique_email("flood"), pw).status, 201) << "a new window";
}

TEST_F(UsersThrottle, FailuresCountAcrossHostsOnOneDatabase) {
    auto a = start_host(*db_, throttle_env());
    ASSERT_NE(a, nullptr);
    auto b = start_host(*db_, throttle_env());
    ASSERT_NE(b, nullptr);
    std::string email = unique_email("twohosts");
    std::string pw = secret("Two-Hosts-Pass-1");
    ASSERT_EQ(create_user(a->port(), "Two Hosts", email, pw).status, 201);
    std::string wrong = secret("Two-Hosts-Wrong-1");
    expect_problem(login(a->port(), email, wrong), 401, "invalid_credentials");
    expect_problem(login(a->port(), email, wrong), 401, "invalid_credentials");
    expect_problem(login(b->port(), email, wrong), 401, "invalid_credentials");
    expect_too_many(login(a->port(), email, pw), "next attempt on host A");
    expect_too_many(login(b->port(), email, pw), "next attempt on host B");
    expect_log_clean(*a, "host A's");
    expect_log_clean(*b, "host B's");
}
