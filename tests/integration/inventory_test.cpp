// The inventory plugin through the real host (users + inventory + the probe
// test plugin, which calls services inside a request transaction): products
// and their validation, listing with keyset pagination, stock adjustments,
// reservations (reserve, commit, release, restock) including 40 concurrent
// buyers of 25 units, the expiry job with two hosts sweeping one database,
// and the CSV import command.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <thread>
#include <vector>

#include "common.hpp"
#include "shop.hpp"

using namespace omstest;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------- helpers --

std::string new_uuid() {
    static std::mt19937_64 rng{std::random_device{}()};
    static std::mutex mu;
    std::lock_guard lock(mu);
    uint64_t hi = rng(), lo = rng();
    hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
    lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // variant 1
    char buf[37];
    std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                  static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                  static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
    return buf;
}


bool is_uuid(const std::string& s) {
    static const std::regex re("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$");
    return std::regex_match(s, re);
}
bool is_rfc3339_utc(const json& v) {
    static const std::regex re(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$)");
    return v.is_string() && std::regex_match(v.get<std::string>(), re);
}

// The {field: message} pairs of a problem.
std::map<std::string, std::string> error_fields(const HttpResponse& r) {
    std::map<std::string, std::string> out;
    auto j = r.json();
    if (j.contains("errors"))
        for (auto& e : j["errors"]) out[e.value("field", "")] = e.value("message", "");
    return out;
}

HttpResponse send_json(int port, const std::string& method, const std::string& target, const json& body,
                       const std::string& token) {
    std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"}};
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    return http_request(port, method, target, body.dump(), headers);
}

// Calls an inventory service inside a request transaction (probe's hook).
HttpResponse call(int port, const std::string& service, const json& args) {
    return http_post_json(port, "/probe/call", {{"service", service}, {"args", args}});
}
json reserve_args(const std::string& order_id, const std::vector<std::pair<std::string, int>>& items) {
    json list = json::array();
    for (auto& [id, q] : items) list.push_back({{"product_id", id}, {"quantity", q}});
    return {{"order_id", order_id}, {"items", list}};
}

size_t count_of(const std::string& text, const std::string& needle) {
    size_t n = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
    return n;
}

std::string write_temp(const std::string& name, const std::string& content) {
    fs::path p = fs::temp_directory_path() / ("oms-inv-" + std::to_string(::getpid()) + "-" + name);
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
}

}  // namespace

// ------------------------------------------------------- the shared host --

class Inventory : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        plugins_ = new PluginDir({"users.so", "inventory.so", "probe.so"});
        db_ = new TestDatabase();
        host_ = start_host(*db_, env()).release();
        if (!host_) return;
        admin_token_ = make_user("admin", true, &admin_id_);
        customer_token_ = make_user("customer", false, nullptr);
    }
    static void TearDownTestSuite() {
        delete unchecked_host_;
        unchecked_host_ = nullptr;
        delete host_;
        host_ = nullptr;
        delete db_;
        db_ = nullptr;
        delete plugins_;
        plugins_ = nullptr;
    }
    void SetUp() override {
        ASSERT_NE(host_, nullptr) << "the shared host did not start";
        ASSERT_FALSE(admin_token_.empty());
        ASSERT_FALSE(customer_token_.empty());
    }

    static std::map<std::string, std::string> env(std::map<std::string, std::string> extra = {}) {
        std::map<std::string, std::string> e = {{"OMS_PLUGIN_DIR", plugins_->path()}};
        for (auto& [k, v] : extra) e[k] = v;
        return e;
    }
    static int port() { return host_->port(); }
    // A second host on the same database without the contract checks, as in
    // production: there a service's own validation is what stands between a
    // buggy caller and its data.
    static int unchecked_port() {
        if (!unchecked_host_) unchecked_host_ = start_host(*db_, env({{"OMS_CONTRACT_CHECKS", "false"}})).release();
        return unchecked_host_ ? unchecked_host_->port() : 0;
    }

    static HostProcess::RunResult cli(std::vector<std::string> args) {
        return HostProcess::run(std::move(args), host_env(*db_, env()), 30s);
    }

    // A user made through the API (and promoted with the CLI); returns its token.
    static std::string make_user(const std::string& tag, bool admin, std::string* id) {
        std::string email = tag + "." + std::to_string(::getpid()) + "@example.com";
        std::string pw = "Inventory-Test-Pass-1";
        auto created = http_post_json(port(), "/users/create", {{"name", tag}, {"email", email}, {"password", pw}});
        EXPECT_EQ(created.status, 201) << created;
        if (id) *id = created.json().value("id", "");
        if (admin) {
            auto r = cli({"users", "set-role", email, "admin"});
            EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
        }
        auto login = http_post_json(port(), "/users/login", {{"email", email}, {"password", pw}});
        EXPECT_EQ(login.status, 200) << login;
        return login.status == 200 ? login.json().value("token", "") : "";
    }

    static HttpResponse post_product(const json& body, const std::string& token = admin_token_) {
        return send_json(port(), "POST", "/inventory", body, token);
    }
    static HttpResponse patch_product(const std::string& id, const json& body, const std::string& token = admin_token_) {
        return send_json(port(), "PATCH", "/inventory/" + id, body, token);
    }
    // A new product; returns its JSON.
    static json create(const std::string& sku, int on_hand, json price = 10, std::string currency = "INR") {
        auto r = post_product({{"sku", sku}, {"name", "Product " + sku}, {"price", price}, {"currency", currency},
                               {"on_hand", on_hand}});
        EXPECT_EQ(r.status, 201) << r;
        return r.json();
    }
    static json product(const std::string& id) {
        auto r = http_get(port(), "/inventory/" + id);
        EXPECT_EQ(r.status, 200) << r;
        return r.json();
    }
    static std::string sql(const std::string& query, const std::vector<std::optional<std::string>>& params = {}) {
        auto rows = db_->query(query, params);
        if (rows.empty() || rows[0].empty()) return "";
        auto v = rows[0].begin().value();
        return v.is_string() ? v.get<std::string>() : "";
    }

    static inline PluginDir* plugins_ = nullptr;
    static inline TestDatabase* db_ = nullptr;
    static inline HostProcess* host_ = nullptr;
    static inline HostProcess* unchecked_host_ = nullptr;
    static inline std::string admin_token_, customer_token_, admin_id_;
};

// --- create ---

TEST_F(Inventory, CreateReturns201WithLocationAndTheProduct) {
    std::string sku = unique("CREATE");
    auto r = post_product({{"sku", sku}, {"name", "  Blue Mug  "}, {"price", 99.99}, {"on_hand", 12}});
    ASSERT_EQ(r.status, 201) << r;
    auto p = r.json();
    ASSERT_TRUE(is_uuid(p.value("product_id", ""))) << r;
    EXPECT_EQ(r.header("Location"), "/inventory/" + p["product_id"].get<std::string>()) << r;
    EXPECT_EQ(p["sku"], sku);
    EXPECT_EQ(p["name"], "Blue Mug") << "the name is trimmed";
    EXPECT_EQ(p["price"], 99.99);
    EXPECT_EQ(p["currency"], "INR") << "the default currency";
    EXPECT_EQ(p["on_hand"], 12);
    EXPECT_EQ(p["reserved"], 0);
    EXPECT_EQ(p["available"], 12);
    EXPECT_TRUE(is_rfc3339_utc(p["created_at"])) << r;
    EXPECT_TRUE(is_rfc3339_utc(p["updated_at"])) << r;
    EXPECT_EQ(p.size(), 10u) << "exactly the documented fields: " << r;

    // Stored exactly, as integer minor units.
    std::string id = p["product_id"];
    EXPECT_EQ(sql("SELECT price::text FROM inventory_products WHERE product_id = $1::uuid", {id}), "9999");
    // The creation is a movement by the admin.
    auto m = db_->query("SELECT delta_on_hand, reason, actor FROM inventory_movements WHERE product_id = $1::uuid", {id});
    ASSERT_EQ(m.size(), 1u) << m;
    EXPECT_EQ(m[0]["delta_on_hand"], "12");
    EXPECT_EQ(m[0]["reason"], "created");
    EXPECT_EQ(m[0]["actor"], admin_id_);

    // GET answers the same product.
    auto got = http_get(port(), r.header("Location"));
    ASSERT_EQ(got.status, 200) << got;
    EXPECT_EQ(got.json(), p);

    // Other currencies keep their own minor digits.
    auto jpy = post_product({{"sku", unique("JPY")}, {"name", "Yen"}, {"price", 1500}, {"currency", "jpy"}, {"on_hand", 0}});
    ASSERT_EQ(jpy.status, 201) << jpy;
    EXPECT_EQ(jpy.json()["currency"], "JPY");
    EXPECT_EQ(jpy.json()["price"], 1500);
    auto kwd = post_product({{"sku", unique("KWD")}, {"name", "Dinar"}, {"price", 1.234}, {"currency", "KWD"}, {"on_hand", 1}});
    ASSERT_EQ(kwd.status, 201) << kwd;
    EXPECT_EQ(kwd.json()["price"], 1.234);
    EXPECT_EQ(sql("SELECT price::text FROM inventory_products WHERE product_id = $1::uuid",
                  {kwd.json()["product_id"].get<std::string>()}),
              "1234");
}

TEST_F(Inventory, CreateValidationNamesEachBadField) {
    const std::string before = sql("SELECT count(*)::text FROM inventory_products");
    auto body = [&](json patch) {
        json b = {{"sku", unique("VALID")}, {"name", "Valid"}, {"price", 10}, {"on_hand", 1}};
        for (auto& [k, v] : patch.items()) {
            if (v.is_string() && v.get<std::string>() == "<omit>") b.erase(k);
            else b[k] = v;
        }
        return b;
    };
    struct Case {
        std::string what;
        json patch;
        std::set<std::string> fields;
    };
    std::vector<Case> cases = {
        {"everything missing", {{"sku", "<omit>"}, {"name", "<omit>"}, {"price", "<omit>"}, {"on_hand", "<omit>"}},
         {"sku", "name", "price", "on_hand"}},
        {"sku empty", {{"sku", ""}}, {"sku"}},
        {"sku 65 chars", {{"sku", std::string(65, 'S')}}, {"sku"}},
        {"sku with a space", {{"sku", "AB CD"}}, {"sku"}},
        {"sku with a slash", {{"sku", "AB/CD"}}, {"sku"}},
        {"sku not a string", {{"sku", 42}}, {"sku"}},
        {"name empty", {{"name", ""}}, {"name"}},
        {"name only spaces", {{"name", "   "}}, {"name"}},
        {"name 201 chars", {{"name", std::string(201, 'n')}}, {"name"}},
        {"name with a newline", {{"name", "two\nlines"}}, {"name"}},
        {"price negative", {{"price", -1}}, {"price"}},
        {"price a string", {{"price", "10.00"}}, {"price"}},
        {"price 99.999 INR", {{"price", 99.999}}, {"price"}},
        {"price 10.5 JPY", {{"price", 10.5}, {"currency", "JPY"}}, {"price"}},
        {"price too large", {{"price", 1e16}}, {"price"}},
        {"currency unknown", {{"currency", "XYZ"}}, {"currency"}},
        {"currency not a string", {{"currency", 356}}, {"currency"}},
        {"on_hand negative", {{"on_hand", -1}}, {"on_hand"}},
        {"on_hand fractional", {{"on_hand", 1.5}}, {"on_hand"}},
        {"on_hand over 1e9", {{"on_hand", 1000000001}}, {"on_hand"}},
        {"on_hand a string", {{"on_hand", "3"}}, {"on_hand"}},
        {"three bad fields", {{"sku", "bad sku"}, {"price", -5}, {"on_hand", nullptr}}, {"sku", "price", "on_hand"}},
    };
    for (const auto& c : cases) expect_validation(post_product(body(c.patch)), c.fields, c.what);

    // 99.999 INR is refused with money.hpp's reason, not rounded.
    auto r = post_product(body({{"price", 99.999}}));
    EXPECT_NE(error_fields(r)["price"].find("decimal places"), std::string::npos) << r;

    // Limits themselves are fine.
    auto edge = post_product(body({{"sku", std::string(60, 'E') + std::to_string(::getpid() % 10000)},
                                   {"name", std::string(200, 'n')},
                                   {"on_hand", 1000000000}}));
    EXPECT_EQ(edge.status, 201) << edge;

    // Not an object.
    auto arr = send_json(port(), "POST", "/inventory", json::array({1}), admin_token_);
    expect_problem(arr, 400, "invalid_body");
    EXPECT_EQ(sql("SELECT count(*)::text FROM inventory_products"), std::to_string(std::stoi(before) + 1));
}

TEST_F(Inventory, DuplicateSkuIs409) {
    std::string sku = unique("DUP");
    create(sku, 1);
    auto r = post_product({{"sku", sku}, {"name", "Again"}, {"price", 1}, {"on_hand", 1}});
    expect_problem(r, 409, "sku_taken");
    EXPECT_EQ(sql("SELECT count(*)::text FROM inventory_products WHERE sku = $1", {sku}), "1");
}

TEST_F(Inventory, WritesNeedAnAdminReadsArePublic) {
    json body = {{"sku", unique("AUTH")}, {"name", "Auth"}, {"price", 1}, {"on_hand", 1}};
    auto none = post_product(body, "");
    expect_problem(none, 401, "unauthorized");
    EXPECT_EQ(none.header("WWW-Authenticate").rfind("Bearer", 0), 0u) << none;
    expect_problem(post_product(body, customer_token_), 403, "forbidden");
    EXPECT_EQ(sql("SELECT count(*)::text FROM inventory_products WHERE sku = $1", {body["sku"].get<std::string>()}), "0");

    auto p = create(unique("AUTHP"), 5);
    std::string id = p["product_id"];
    expect_problem(patch_product(id, {{"on_hand", 0}}, ""), 401, "unauthorized");
    expect_problem(patch_product(id, {{"on_hand", 0}}, customer_token_), 403, "forbidden");
    EXPECT_EQ(product(id)["on_hand"], 5);
    EXPECT_EQ(http_get(port(), "/inventory").status, 200);
    EXPECT_EQ(http_get(port(), "/inventory/" + id).status, 200);
}

// --- list and get ---

TEST_F(Inventory, ListPaginatesBySkuWithoutGapsOrDuplicates) {
    std::string prefix = unique("LIST");
    for (int i = 0; i < 5; ++i) create(prefix + "-" + std::to_string(i), i);

    // Every product, two at a time, in SKU order.
    std::vector<std::string> seen;
    std::string target = "/inventory?limit=2";
    int pages = 0;
    while (true) {
        auto r = http_get(port(), target);
        ASSERT_EQ(r.status, 200) << r;
        auto j = r.json();
        ASSERT_TRUE(j["data"].is_array()) << r;
        ASSERT_LE(j["data"].size(), 2u) << r;
        for (auto& p : j["data"]) seen.push_back(p["sku"]);
        ++pages;
        ASSERT_LT(pages, 1000);
        if (j["next_cursor"].is_null()) break;
        ASSERT_TRUE(j["next_cursor"].is_string()) << r;
        EXPECT_EQ(j["data"].size(), 2u) << "a page before the last is full: " << r;
        target = "/inventory?limit=2&cursor=" + j["next_cursor"].get<std::string>();
    }
    std::vector<std::string> expected;
    for (auto& row : db_->query("SELECT sku FROM inventory_products ORDER BY sku COLLATE \"C\""))
        expected.push_back(row["sku"]);
    EXPECT_EQ(seen, expected) << "no duplicates, no gaps, SKU order";
    for (int i = 0; i < 5; ++i)
        EXPECT_NE(std::find(seen.begin(), seen.end(), prefix + "-" + std::to_string(i)), seen.end());

    // Default limit 20, and a full page of exactly the limit still says whether more exist.
    auto all = http_get(port(), "/inventory");
    ASSERT_EQ(all.status, 200) << all;
    EXPECT_EQ(all.json()["data"].size(), std::min<size_t>(20, expected.size()));
    EXPECT_EQ(all.json()["next_cursor"].is_null(), expected.size() <= 20);

    // The sku filter is exact.
    auto one = http_get(port(), "/inventory?sku=" + prefix + "-3");
    ASSERT_EQ(one.status, 200) << one;
    ASSERT_EQ(one.json()["data"].size(), 1u) << one;
    EXPECT_EQ(one.json()["data"][0]["sku"], prefix + "-3");
    EXPECT_EQ(one.json()["data"][0]["on_hand"], 3);
    EXPECT_TRUE(one.json()["next_cursor"].is_null());
    auto prefix_only = http_get(port(), "/inventory?sku=" + prefix);
    ASSERT_EQ(prefix_only.status, 200);
    EXPECT_TRUE(prefix_only.json()["data"].empty()) << prefix_only;

    // Bad parameters.
    expect_problem(http_get(port(), "/inventory?cursor=not-a-cursor!"), 400, "invalid_cursor");
    expect_problem(http_get(port(), "/inventory?cursor=eyJ4IjoxfQ"), 400, "invalid_cursor");  // {"x":1}
    expect_problem(http_get(port(), "/inventory?cursor=WzFd"), 400, "invalid_cursor");        // [1]
    for (std::string l : {"0", "101", "-1", "abc", "2.5"})
        expect_problem(http_get(port(), "/inventory?limit=" + l), 400, "invalid_parameter");
    EXPECT_EQ(http_get(port(), "/inventory?limit=100").status, 200);
}

TEST_F(Inventory, GetUnknownOrMalformedIdIs404) {
    expect_problem(http_get(port(), "/inventory/" + new_uuid()), 404, "not_found");
    expect_problem(http_get(port(), "/inventory/garbage"), 404, "not_found");
    expect_problem(http_get(port(), "/inventory/%27%20OR%201=1--"), 404, "not_found");
    expect_problem(patch_product(new_uuid(), {{"on_hand", 1}}), 404, "not_found");
    expect_problem(patch_product("garbage", {{"on_hand", 1}}), 404, "not_found");
}

// --- patch ---

TEST_F(Inventory, PatchChangesNamePriceAndOnHandAndRecordsAdjustments) {
    auto p = create(unique("PATCH"), 10, 5);
    std::string id = p["product_id"];

    auto r = patch_product(id, {{"name", "Renamed"}, {"price", 12.5}, {"on_hand", 15}});
    ASSERT_EQ(r.status, 200) << r;
    EXPECT_EQ(r.json()["name"], "Renamed");
    EXPECT_EQ(r.json()["price"], 12.5);
    EXPECT_EQ(r.json()["on_hand"], 15);
    EXPECT_EQ(r.json()["available"], 15);
    EXPECT_EQ(r.json()["sku"], p["sku"]);
    EXPECT_EQ(sql("SELECT price::text FROM inventory_products WHERE product_id = $1::uuid", {id}), "1250");
    // Only what is sent changes.
    auto only = patch_product(id, {{"on_hand", 7}});
    ASSERT_EQ(only.status, 200) << only;
    EXPECT_EQ(only.json()["name"], "Renamed");
    EXPECT_EQ(only.json()["price"], 12.5);
    auto same = patch_product(id, json::object());
    ASSERT_EQ(same.status, 200) << same;
    EXPECT_EQ(same.json()["on_hand"], 7);

    auto m = db_->query("SELECT delta_on_hand, reason, actor FROM inventory_movements"
                        " WHERE product_id = $1::uuid ORDER BY id",
                        {id});
    ASSERT_EQ(m.size(), 3u) << m;
    EXPECT_EQ(m[1]["reason"], "adjustment");
    EXPECT_EQ(m[1]["delta_on_hand"], "5");
    EXPECT_EQ(m[1]["actor"], admin_id_);
    EXPECT_EQ(m[2]["delta_on_hand"], "-8");

    // sku and currency are fixed; bad values are named.
    expect_validation(patch_product(id, {{"sku", "NEW-SKU"}}), {"sku"}, "sku");
    expect_validation(patch_product(id, {{"currency", "USD"}}), {"currency"}, "currency");
    expect_validation(patch_product(id, {{"price", 1.234}, {"on_hand", -2}, {"name", ""}}), {"price", "on_hand", "name"},
                      "three bad fields");
    expect_problem(send_json(port(), "PATCH", "/inventory/" + id, "text", admin_token_), 400, "invalid_body");

    // Never below what is reserved.
    auto order = new_uuid();
    auto res = call(port(), "inventory.reserve", reserve_args(order, {{id, 4}}));
    ASSERT_EQ(res.status, 200) << res;
    auto below = patch_product(id, {{"on_hand", 3}});
    expect_problem(below, 409, "below_reserved");
    EXPECT_EQ(product(id)["on_hand"], 7);
    auto at = patch_product(id, {{"on_hand", 4}});
    ASSERT_EQ(at.status, 200) << at;
    EXPECT_EQ(at.json()["available"], 0);
    EXPECT_EQ(at.json()["reserved"], 4);
    EXPECT_EQ(sql("SELECT count(*)::text FROM inventory_movements WHERE product_id = $1::uuid", {id}), "4");
}

// --- reservations ---

TEST_F(Inventory, ReserveReturnsPricesAndMergesRepeatedProducts) {
    auto a = create(unique("RES-A"), 10, 99.99);
    auto b = create(unique("RES-B"), 3, 250, "INR");
    std::string ida = a["product_id"], idb = b["product_id"];
    std::string order = new_uuid();

    auto r = call(port(), "inventory.reserve", reserve_args(order, {{ida, 2}, {idb, 1}, {ida, 3}}));
    ASSERT_EQ(r.status, 200) << r;
    auto j = r.json();
    ASSERT_EQ(j["items"].size(), 2u) << r;
    EXPECT_EQ(j["items"][0], json({{"product_id", ida}, {"sku", a["sku"]}, {"name", a["name"]}, {"unit_price", 9999},
                                   {"currency", "INR"}, {"quantity", 5}}))
        << r;
    EXPECT_EQ(j["items"][1]["product_id"], idb);
    EXPECT_EQ(j["items"][1]["unit_price"], 25000);
    EXPECT_EQ(j["items"][1]["quantity"], 1);
    EXPECT_TRUE(is_rfc3339_utc(j["expires_at"])) << r;
    // Default TTL 900 s.
    EXPECT_EQ(sql("SELECT (abs(extract(epoch FROM ($1::timestamptz - now())) - 900) < 60)::text",
                  {j["expires_at"].get<std::string>()}),
              "true");

    EXPECT_EQ(product(ida)["reserved"], 5);
    EXPECT_EQ(product(ida)["available"], 5);
    EXPECT_EQ(product(ida)["on_hand"], 10);
    auto rows = db_->query("SELECT product_id::text AS p, quantity, status FROM inventory_reservations"
                           " WHERE order_id = $1::uuid ORDER BY quantity",
                           {order});
    ASSERT_EQ(rows.size(), 2u) << rows;
    EXPECT_EQ(rows[1]["quantity"], "5");
    EXPECT_EQ(rows[1]["status"], "active");

    // A second reservation for the same order is refused, nothing changes.
    expect_problem(call(port(), "inventory.reserve", reserve_args(order, {{idb, 1}})), 409, "reservation_exists");
    EXPECT_EQ(product(idb)["reserved"], 1);

    // An explicit TTL, and upper-case ids are the same product.
    std::string upper = idb;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    auto t = call(port(), "inventory.reserve",
                  {{"order_id", new_uuid()}, {"items", {{{"product_id", upper}, {"quantity", 1}}}}, {"ttl_seconds", 60}});
    ASSERT_EQ(t.status, 200) << t;
    EXPECT_EQ(t.json()["items"][0]["product_id"], idb);
    EXPECT_EQ(sql("SELECT (abs(extract(epoch FROM ($1::timestamptz - now())) - 60) < 30)::text",
                  {t.json()["expires_at"].get<std::string>()}),
              "true");
}

TEST_F(Inventory, ReserveRefusesUnknownProductsAndShortStockNamingThemAll) {
    auto a = create(unique("SHORT-A"), 2);
    auto b = create(unique("SHORT-B"), 1);
    auto c = create(unique("SHORT-C"), 50);
    std::string ida = a["product_id"], idb = b["product_id"], idc = c["product_id"];

    auto shortr = call(port(), "inventory.reserve", reserve_args(new_uuid(), {{ida, 3}, {idc, 5}, {idb, 2}}));
    expect_problem(shortr, 409, "insufficient_stock");
    auto detail = shortr.json().value("detail", "");
    EXPECT_NE(detail.find(a["sku"].get<std::string>()), std::string::npos) << shortr;
    EXPECT_NE(detail.find(b["sku"].get<std::string>()), std::string::npos) << shortr;
    EXPECT_EQ(detail.find(c["sku"].get<std::string>()), std::string::npos) << shortr;
    auto f = error_fields(shortr);
    EXPECT_EQ(f.size(), 2u) << shortr;
    EXPECT_EQ(f["items[0].quantity"], "only 2 of " + a["sku"].get<std::string>() + " available") << shortr;
    EXPECT_EQ(f["items[2].quantity"], "only 1 of " + b["sku"].get<std::string>() + " available") << shortr;
    // Nothing was held, not even the product that had enough.
    EXPECT_EQ(product(idc)["reserved"], 0);
    EXPECT_EQ(sql("SELECT count(*)::text FROM inventory_reservations WHERE product_id = $1::uuid", {idc}), "0");

    // Merged quantities count together: 1 + 1 + 1 of a product with 2.
    auto merged = call(port(), "inventory.reserve", reserve_args(new_uuid(), {{ida, 1}, {idc, 1}, {ida, 1}, {ida, 1}}));
    expect_problem(merged, 409, "insufficient_stock");
    EXPECT_EQ(error_fields(merged).count("items[0].quantity"), 1u) << merged;

    // Unknown products (well-formed or not) are 400 and win over short stock.
    std::string ghost = new_uuid();
    auto unknown = call(port(), "inventory.reserve", reserve_args(new_uuid(), {{ida, 9}, {ghost, 1}, {"nope", 1}}));
    expect_problem(unknown, 400, "unknown_product");
    auto uf = error_fields(unknown);
    EXPECT_EQ(uf.size(), 2u) << unknown;
    EXPECT_EQ(uf["items[1].product_id"], "unknown product " + ghost) << unknown;
    EXPECT_EQ(uf["items[2].product_id"], "unknown product nope") << unknown;
    EXPECT_NE(unknown.json().value("detail", "").find(ghost), std::string::npos) << unknown;

    // Malformed arguments break the declared contract: with the checks on
    // (development, tests) the host refuses the call and names the field...
    auto broken = call(port(), "inventory.reserve", reserve_args(new_uuid(), {{ida, 0}}));
    expect_problem(broken, 500, "contract_violation");
    EXPECT_NE(broken.json().value("detail", "").find("/items/0/quantity"), std::string::npos) << broken;
    // ...and without them (production) the service refuses them itself.
    int bare = unchecked_port();
    ASSERT_NE(bare, 0);
    expect_validation(call(bare, "inventory.reserve", reserve_args("not-a-uuid", {{ida, 1}})), {"order_id"}, "order_id");
    expect_validation(call(bare, "inventory.reserve", {{"order_id", new_uuid()}, {"items", json::array()}}), {"items"},
                      "empty items");
    expect_validation(call(bare, "inventory.reserve", reserve_args(new_uuid(), {{ida, 0}})), {"items[0].quantity"},
                      "zero quantity");
    expect_validation(call(bare, "inventory.reserve",
                           {{"order_id", new_uuid()}, {"items", {{{"product_id", ida}, {"quantity", 1}}}}, {"ttl_seconds", 0}}),
                      {"ttl_seconds"}, "ttl");
    expect_validation(call(bare, "inventory.reserve", {{"order_id", new_uuid()}, {"items", {{{"quantity", 1}}}}}),
                      {"items[0].product_id"}, "no product_id");
    EXPECT_EQ(product(ida)["reserved"], 0);
}

TEST_F(Inventory, FortyConcurrentBuyersOfTwentyFiveUnitsNeverOversell) {
    auto p = create(unique("RACE"), 25);
    std::string id = p["product_id"];
    std::atomic<int> ok{0}, refused{0}, other{0};
    std::atomic<bool> stop{false};
    std::atomic<int> negative{0};
    // Meanwhile, available is watched from the database.
    std::thread watcher([&] {
        TestDatabase* db = db_;
        while (!stop) {
            auto v = db->query("SELECT on_hand - reserved AS a FROM inventory_products WHERE product_id = $1::uuid", {id});
            if (!v.empty() && std::stoi(v[0]["a"].get<std::string>()) < 0) ++negative;
            std::this_thread::sleep_for(2ms);
        }
    });
    std::vector<std::thread> buyers;
    std::atomic<int> ready{0};
    for (int i = 0; i < 40; ++i)
        buyers.emplace_back([&] {
            ++ready;
            while (ready < 40) std::this_thread::yield();
            auto r = call(port(), "inventory.reserve", reserve_args(new_uuid(), {{id, 1}}));
            if (r.status == 200) ++ok;
            else if (r.status == 409 && r.json().value("code", "") == "insufficient_stock") ++refused;
            else ++other;
        });
    for (auto& t : buyers) t.join();
    stop = true;
    watcher.join();
    EXPECT_EQ(ok, 25);
    EXPECT_EQ(refused, 15);
    EXPECT_EQ(other, 0);
    EXPECT_EQ(negative, 0);
    auto after = product(id);
    EXPECT_EQ(after["reserved"], 25);
    EXPECT_EQ(after["available"], 0);
    EXPECT_EQ(sql("SELECT coalesce(sum(quantity), 0)::text FROM inventory_reservations"
                  " WHERE product_id = $1::uuid AND status = 'active'",
                  {id}),
              "25");
}

// Orders naming the same products in opposite orders, committed and
// released while others reserve: every call succeeds, none deadlocks.
TEST_F(Inventory, ConcurrentMultiProductOrdersDoNotDeadlock) {
    std::string a = create(unique("LOCK-A"), 1000)["product_id"];
    std::string b = create(unique("LOCK-B"), 1000)["product_id"];
    std::string c = create(unique("LOCK-C"), 1000)["product_id"];
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 12; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 8; ++i) {
                std::string order = new_uuid();
                auto items = t % 2 ? std::vector<std::pair<std::string, int>>{{a, 1}, {b, 2}, {c, 1}}
                                   : std::vector<std::pair<std::string, int>>{{c, 1}, {b, 2}, {a, 1}};
                auto r = call(port(), "inventory.reserve", reserve_args(order, items));
                if (r.status != 200) {
                    ++failures;
                    ADD_FAILURE() << r;
                    continue;
                }
                auto done = call(port(), i % 2 ? "inventory.commit" : "inventory.release", {{"order_id", order}});
                if (done.status != 200) {
                    ++failures;
                    ADD_FAILURE() << done;
                }
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures, 0);
    // 12 × 8 orders, half sold: 48 × 1 of a, 48 × 2 of b.
    EXPECT_EQ(product(a)["on_hand"], 1000 - 48);
    EXPECT_EQ(product(b)["on_hand"], 1000 - 96);
    EXPECT_EQ(product(a)["reserved"], 0);
    EXPECT_EQ(host_->log().find("deadlock"), std::string::npos) << host_->log();
}

TEST_F(Inventory, CommitReleaseAndRestockMoveStockOnce) {
    auto a = create(unique("FLOW-A"), 10);
    auto b = create(unique("FLOW-B"), 4);
    std::string ida = a["product_id"], idb = b["product_id"];

    // Paid: on_hand and reserved both drop, a sale movement per product.
    std::string paid = new_uuid();
    ASSERT_EQ(call(port(), "inventory.reserve", reserve_args(paid, {{ida, 3}, {idb, 1}})).status, 200);
    auto c = call(port(), "inventory.commit", {{"order_id", paid}});
    ASSERT_EQ(c.status, 200) << c;
    EXPECT_EQ(c.json(), json({{"committed", 2}}));
    EXPECT_EQ(product(ida)["on_hand"], 7);
    EXPECT_EQ(product(ida)["reserved"], 0);
    EXPECT_EQ(product(idb)["on_hand"], 3);
    auto sale = db_->query("SELECT delta_on_hand, order_id::text AS o FROM inventory_movements"
                           " WHERE product_id = $1::uuid AND reason = 'sale'",
                           {ida});
    ASSERT_EQ(sale.size(), 1u) << sale;
    EXPECT_EQ(sale[0]["delta_on_hand"], "-3");
    EXPECT_EQ(sale[0]["o"], paid);
    // Twice: nothing active any more.
    expect_problem(call(port(), "inventory.commit", {{"order_id", paid}}), 409, "reservation_not_active");
    expect_problem(call(port(), "inventory.commit", {{"order_id", new_uuid()}}), 409, "reservation_not_active");
    EXPECT_EQ(product(ida)["on_hand"], 7);
    // Releasing a sold order changes nothing.
    EXPECT_EQ(call(port(), "inventory.release", {{"order_id", paid}}).json(), json({{"released", 0}}));
    EXPECT_EQ(product(ida)["on_hand"], 7);

    // Refunded: the sold units come back, once.
    auto rs = call(port(), "inventory.restock", {{"order_id", paid}});
    ASSERT_EQ(rs.status, 200) << rs;
    EXPECT_EQ(rs.json(), json({{"restocked", 2}}));
    EXPECT_EQ(product(ida)["on_hand"], 10);
    EXPECT_EQ(product(idb)["on_hand"], 4);
    EXPECT_EQ(call(port(), "inventory.restock", {{"order_id", paid}}).json(), json({{"restocked", 0}}));
    EXPECT_EQ(product(ida)["on_hand"], 10);
    EXPECT_EQ(sql("SELECT delta_on_hand::text FROM inventory_movements WHERE product_id = $1::uuid AND reason = 'restock'",
                  {ida}),
              "3");
    EXPECT_EQ(sql("SELECT status FROM inventory_reservations WHERE order_id = $1::uuid AND product_id = $2::uuid",
                  {paid, ida}),
              "restocked");

    // Cancelled: reserved drops, on_hand stays; idempotent.
    std::string cancelled = new_uuid();
    ASSERT_EQ(call(port(), "inventory.reserve", reserve_args(cancelled, {{ida, 4}})).status, 200);
    EXPECT_EQ(product(ida)["reserved"], 4);
    auto rel = call(port(), "inventory.release", {{"order_id", cancelled}, {"reason", "customer cancelled"}});
    ASSERT_EQ(rel.status, 200) << rel;
    EXPECT_EQ(rel.json(), json({{"released", 1}}));
    EXPECT_EQ(product(ida)["reserved"], 0);
    EXPECT_EQ(product(ida)["on_hand"], 10);
    EXPECT_EQ(call(port(), "inventory.release", {{"order_id", cancelled}}).json(), json({{"released", 0}}));
    EXPECT_EQ(product(ida)["reserved"], 0);
    EXPECT_EQ(sql("SELECT status || ':' || reason FROM inventory_reservations WHERE order_id = $1::uuid", {cancelled}),
              "released:customer cancelled");
    // A released order cannot be committed or restocked.
    expect_problem(call(port(), "inventory.commit", {{"order_id", cancelled}}), 409, "reservation_not_active");
    EXPECT_EQ(call(port(), "inventory.restock", {{"order_id", cancelled}}).json(), json({{"restocked", 0}}));

    // Malformed arguments: the service's own checks (the host's are off there).
    expect_validation(call(unchecked_port(), "inventory.commit", {{"order_id", "x"}}), {"order_id"}, "commit order_id");
    expect_validation(call(unchecked_port(), "inventory.release", json::object()), {"order_id"}, "release order_id");
    expect_validation(call(unchecked_port(), "inventory.restock", {{"order_id", 5}}), {"order_id"}, "restock order_id");
    expect_problem(call(port(), "inventory.restock", {{"order_id", 5}}), 500, "contract_violation");
}

// --- CSV import ---

TEST_F(Inventory, ImportCreatesAndUpdatesProducts) {
    auto existing = create(unique("CSV-OLD"), 5, 1);
    std::string old_sku = existing["sku"], id = existing["product_id"];
    ASSERT_EQ(call(port(), "inventory.reserve", reserve_args(new_uuid(), {{id, 2}})).status, 200);
    std::string s1 = unique("CSV-NEW"), s2 = unique("CSV-NEW");
    // Columns in another order, CRLF, quoted fields with commas and quotes, a BOM, a trailing empty line.
    std::string csv = "\xEF\xBB\xBFname,sku,on_hand,price,currency\r\n"
                      "\"Mug, large \"\"blue\"\"\"," + s1 + ",12,199.50,INR\r\n"
                      "Plain," + s2 + ",0,5,usd\r\n"
                      "\"Renamed, old\"," + old_sku + ",9,2.25,\r\n"
                      "\r\n";
    std::string file = write_temp("good.csv", csv);
    auto r = cli({"inventory", "import", file});
    ASSERT_EQ(r.exit_code, 0) << "stdout: " << r.out << "\nstderr: " << r.err;
    EXPECT_EQ(r.out, "imported 3 products (2 created, 1 updated)\n") << r.err;

    auto p1 = db_->query("SELECT name, price, currency, on_hand FROM inventory_products WHERE sku = $1", {s1});
    ASSERT_EQ(p1.size(), 1u);
    EXPECT_EQ(p1[0]["name"], "Mug, large \"blue\"");
    EXPECT_EQ(p1[0]["price"], "19950");
    EXPECT_EQ(p1[0]["currency"], "INR");
    EXPECT_EQ(p1[0]["on_hand"], "12");
    EXPECT_EQ(sql("SELECT currency FROM inventory_products WHERE sku = $1", {s2}), "USD");
    auto old = product(id);
    EXPECT_EQ(old["name"], "Renamed, old");
    EXPECT_EQ(old["price"], 2.25);
    EXPECT_EQ(old["on_hand"], 9);
    EXPECT_EQ(old["reserved"], 2) << "an import leaves reservations alone";
    EXPECT_EQ(sql("SELECT delta_on_hand::text FROM inventory_movements WHERE product_id = $1::uuid AND reason = 'import'",
                  {id}),
              "4");
    EXPECT_EQ(sql("SELECT m.delta_on_hand::text FROM inventory_movements m JOIN inventory_products p USING (product_id)"
                  " WHERE p.sku = $1 AND m.reason = 'import' AND m.actor = 'cli:import'",
                  {s1}),
              "12");

    // Without a currency column, LF endings: new products are INR. Importing again only updates.
    std::string s3 = unique("CSV-LF");
    std::string lf = write_temp("lf.csv", "sku,name,price,on_hand\n" + s3 + ",Lf,1.5,1\n" + s1 + ",Mug,199.5,12");
    auto again = cli({"inventory", "import", lf});
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(again.out, "imported 2 products (1 created, 1 updated)\n");
    EXPECT_EQ(sql("SELECT currency FROM inventory_products WHERE sku = $1", {s3}), "INR");
    fs::remove(file);
    fs::remove(lf);
}

TEST_F(Inventory, ImportIsAllOrNothingAndNamesEveryBadLine) {
    auto existing = create(unique("CSV-KEEP"), 5, 1);
    std::string keep = existing["sku"], id = existing["product_id"];
    const std::string products_before = sql("SELECT count(*)::text FROM inventory_products");
    const std::string movements_before = sql("SELECT count(*)::text FROM inventory_movements");
    std::string good1 = unique("CSV-GOOD"), good2 = unique("CSV-GOOD");

    std::string file = write_temp("bad.csv", "sku,name,price,currency,on_hand\n" +
                                                 good1 + ",Good,1,INR,1\n" +
                                                 unique("CSV-BAD") + ",Bad price,12.345,INR,1\n" +
                                                 keep + ",Changed,3,INR,50\n" +
                                                 unique("CSV-BAD") + ",Bad stock,1,INR,-1\n" +
                                                 good2 + ",\"Good, too\",1,INR,1\n");
    auto r = cli({"inventory", "import", file});
    EXPECT_EQ(r.exit_code, 2) << "stdout: " << r.out << "\nstderr: " << r.err;
    EXPECT_EQ(count_of(r.err, file + ":3: "), 1u) << r.err;
    EXPECT_NE(r.err.find(file + ":3: price has more than 2 decimal places"), std::string::npos) << r.err;
    EXPECT_EQ(count_of(r.err, file + ":5: "), 1u) << r.err;
    EXPECT_NE(r.err.find(file + ":5: on_hand"), std::string::npos) << r.err;
    EXPECT_EQ(count_of(r.err, file + ":"), 2u) << "only the bad lines: " << r.err;
    EXPECT_NE(r.err.find("2 invalid lines"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    // Nothing changed: no new product, the existing one untouched, no movement.
    EXPECT_EQ(sql("SELECT count(*)::text FROM inventory_products"), products_before);
    EXPECT_EQ(sql("SELECT count(*)::text FROM inventory_movements"), movements_before);
    EXPECT_EQ(product(id)["name"], existing["name"]);
    EXPECT_EQ(product(id)["on_hand"], 5);

    // Checks that need the database: the currency of an existing product,
    // on_hand under what is reserved; and CSV syntax, with line numbers that
    // count the line breaks inside quoted fields.
    ASSERT_EQ(call(port(), "inventory.reserve", reserve_args(new_uuid(), {{id, 4}})).status, 200);
    std::string file2 = write_temp("bad2.csv", "sku,name,price,currency,on_hand\n" +
                                                   keep + ",Keep,1,USD,3\n" +                 // 2: currency change, below reserved
                                                   keep + "2,\"two\nlines\",1,INR,1\n" +       // 3-4: control character
                                                   "A\"B,x,1,INR,1\n" +                        // 5: stray quote
                                                   "short,1,INR\n" +                           // 6: too few fields
                                                   keep + ",Keep,1,,5\n" +                     // 7: sku twice
                                                   "\"unterminated,1,INR,1\n");                // 8: never closed
    auto r2 = cli({"inventory", "import", file2});
    EXPECT_EQ(r2.exit_code, 2) << r2.err;
    for (int line : {2, 3, 5, 6, 7, 8})
        EXPECT_EQ(count_of(r2.err, file2 + ":" + std::to_string(line) + ": "), 1u) << "line " << line << "\n" << r2.err;
    EXPECT_NE(r2.err.find("cannot change to USD"), std::string::npos) << r2.err;
    EXPECT_NE(r2.err.find("below the 4 units reserved"), std::string::npos) << r2.err;
    EXPECT_NE(r2.err.find("is also on line 2"), std::string::npos) << r2.err;
    EXPECT_NE(r2.err.find("6 invalid lines"), std::string::npos) << r2.err;
    EXPECT_EQ(count_of(r2.err, file2 + ":4: "), 0u) << r2.err;
    EXPECT_EQ(product(id)["on_hand"], 5);

    // A bad header, or no file at all.
    std::string file3 = write_temp("bad3.csv", "sku,title,price,on_hand\nX,Y,1,1\n");
    auto r3 = cli({"inventory", "import", file3});
    EXPECT_EQ(r3.exit_code, 2) << r3.err;
    EXPECT_NE(r3.err.find(file3 + ":1: unknown column 'title'"), std::string::npos) << r3.err;
    EXPECT_NE(r3.err.find("missing column 'name'"), std::string::npos) << r3.err;
    auto r4 = cli({"inventory", "import", "/nonexistent/stock.csv"});
    EXPECT_EQ(r4.exit_code, 2) << r4.err;
    EXPECT_NE(r4.err.find("/nonexistent/stock.csv"), std::string::npos) << r4.err;
    EXPECT_EQ(sql("SELECT count(*)::text FROM inventory_products"), products_before);
    for (auto& f : {file, file2, file3}) fs::remove(f);
}

// Keep last: reads everything the suite did.
TEST_F(Inventory, ZzMovementsAccountForEveryUnitAndNoJobFailed) {
    // For every product, the movements add up to its on_hand.
    auto rows = db_->query("SELECT p.sku, p.on_hand, coalesce(sum(m.delta_on_hand), 0) AS moved"
                           " FROM inventory_products p LEFT JOIN inventory_movements m USING (product_id)"
                           " GROUP BY p.product_id, p.sku, p.on_hand HAVING p.on_hand <> coalesce(sum(m.delta_on_hand), 0)");
    EXPECT_TRUE(rows.empty()) << rows;
    // And reserved is exactly what active reservations hold.
    auto held = db_->query("SELECT p.sku FROM inventory_products p LEFT JOIN inventory_reservations r"
                           " ON r.product_id = p.product_id AND r.status = 'active'"
                           " GROUP BY p.product_id, p.sku, p.reserved HAVING p.reserved <> coalesce(sum(r.quantity), 0)");
    EXPECT_TRUE(held.empty()) << held;
    EXPECT_EQ(host_->log().find("failed"), std::string::npos) << host_->log();
}

// ------------------------------------------------------------- expiry --

// Two hosts on one database, both sweeping every 100 ms with a 1 s TTL.
TEST(InventoryExpiry, TwoHostsExpireEachReservationOnceAndAnnounceEachOrderOnce) {
    PluginDir plugins({"users.so", "inventory.so", "probe.so"});
    TestDatabase db;
    std::map<std::string, std::string> env = {{"OMS_PLUGIN_DIR", plugins.path()},
                                              {"OMS_RESERVATION_TTL", "1"},
                                              {"OMS_RESERVATION_SWEEP_MS", "100"},
                                              {"LOG_LEVEL", "debug"},
                                              {"LOG_FORMAT", "text"}};
    auto a = start_host(db, env);
    ASSERT_NE(a, nullptr);
    auto b = start_host(db, env);
    ASSERT_NE(b, nullptr);

    // Products straight into the table: this test is about the job.
    db.exec("INSERT INTO inventory_products (sku, name, price, on_hand) VALUES ('EXP-1', 'One', 100, 100),"
            " ('EXP-2', 'Two', 100, 100)");
    std::string p1 = db.scalar("SELECT product_id FROM inventory_products WHERE sku = 'EXP-1'");
    std::string p2 = db.scalar("SELECT product_id FROM inventory_products WHERE sku = 'EXP-2'");

    // 20 orders of one unit, spread over both hosts and over time (so both
    // sweeps find work), plus orders of two products.
    std::vector<std::string> orders;
    for (int i = 0; i < 20; ++i) {
        orders.push_back(new_uuid());
        auto r = call(i % 2 ? a->port() : b->port(), "inventory.reserve", reserve_args(orders.back(), {{p1, 1}}));
        ASSERT_EQ(r.status, 200) << r;
        std::this_thread::sleep_for(40ms);
    }
    for (int i = 0; i < 5; ++i) {
        orders.push_back(new_uuid());
        auto r = call(a->port(), "inventory.reserve", reserve_args(orders.back(), {{p1, 2}, {p2, 3}}));
        ASSERT_EQ(r.status, 200) << r;
    }
    // One that lives longer than the rest.
    std::string lasting = new_uuid();
    auto l = call(b->port(), "inventory.reserve",
                  {{"order_id", lasting}, {"items", {{{"product_id", p2}, {"quantity", 4}}}}, {"ttl_seconds", 3600}});
    ASSERT_EQ(l.status, 200) << l;

    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline &&
           db.scalar("SELECT count(*) FROM inventory_reservations WHERE status = 'active'") != "1")
        std::this_thread::sleep_for(100ms);

    EXPECT_EQ(db.scalar("SELECT count(*) FROM inventory_reservations WHERE status = 'expired'"), "30");
    EXPECT_EQ(db.scalar("SELECT order_id FROM inventory_reservations WHERE status = 'active'"), lasting);
    EXPECT_EQ(db.scalar("SELECT reserved FROM inventory_products WHERE sku = 'EXP-1'"), "0");
    EXPECT_EQ(db.scalar("SELECT reserved FROM inventory_products WHERE sku = 'EXP-2'"), "4");
    EXPECT_EQ(db.scalar("SELECT on_hand FROM inventory_products WHERE sku = 'EXP-1'"), "100");
    EXPECT_EQ(db.scalar("SELECT count(*) FROM inventory_movements"), "0") << "expiry never moves on_hand";

    // Give the sweeps a few more rounds: nothing expires twice.
    std::this_thread::sleep_for(500ms);
    EXPECT_EQ(db.scalar("SELECT reserved FROM inventory_products WHERE sku = 'EXP-1'"), "0");
    std::string logs = a->log() + b->log();
    for (const auto& o : orders)
        EXPECT_EQ(count_of(logs, "reservations of order " + o + " expired"), 1u) << "order " << o;
    EXPECT_EQ(count_of(logs, "reservations of order " + lasting + " expired"), 0u);
    EXPECT_EQ(logs.find("failed"), std::string::npos) << logs;
    EXPECT_EQ(logs.find("could not expire"), std::string::npos) << logs;

    // A payment arriving after expiry finds nothing to commit; the stock is available again.
    expect_problem(call(a->port(), "inventory.commit", {{"order_id", orders[0]}}), 409, "reservation_not_active");
    auto p = http_get(a->port(), "/inventory/" + p1);
    ASSERT_EQ(p.status, 200) << p;
    EXPECT_EQ(p.json()["available"], 100);
}

// One order that cannot expire (its product's stock was tampered with, so
// returning it would break a CHECK) is retried each sweep without holding
// back the other orders of the batch.
TEST(InventoryExpiry, AnOrderThatCannotExpireDoesNotHoldBackTheOthers) {
    PluginDir plugins({"users.so", "inventory.so", "probe.so"});
    TestDatabase db;
    auto host = start_host(db, {{"OMS_PLUGIN_DIR", plugins.path()},
                                {"OMS_RESERVATION_TTL", "1"},
                                {"OMS_RESERVATION_SWEEP_MS", "100"},
                                {"LOG_FORMAT", "text"}});
    ASSERT_NE(host, nullptr);
    db.exec("INSERT INTO inventory_products (sku, name, price, on_hand) VALUES ('BAD', 'Bad', 1, 10), ('OK', 'Ok', 1, 10)");
    std::string bad = db.scalar("SELECT product_id FROM inventory_products WHERE sku = 'BAD'");
    std::string ok = db.scalar("SELECT product_id FROM inventory_products WHERE sku = 'OK'");
    std::string stuck = new_uuid(), fine = new_uuid();
    ASSERT_EQ(call(host->port(), "inventory.reserve", reserve_args(stuck, {{bad, 2}})).status, 200);
    ASSERT_EQ(call(host->port(), "inventory.reserve", reserve_args(fine, {{ok, 3}})).status, 200);
    db.exec("UPDATE inventory_products SET reserved = 1 WHERE sku = 'BAD'");  // less than the order holds

    auto wait_for = [&](const std::string& query, const std::string& want) {
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline && db.scalar(query) != want)
            std::this_thread::sleep_for(50ms);
        return db.scalar(query);
    };
    EXPECT_EQ(wait_for("SELECT status FROM inventory_reservations WHERE order_id = '" + fine + "'", "expired"), "expired");
    EXPECT_EQ(db.scalar("SELECT reserved FROM inventory_products WHERE sku = 'OK'"), "0");
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(db.scalar("SELECT status FROM inventory_reservations WHERE order_id = '" + stuck + "'"), "active");
    EXPECT_NE(host->log().find("could not expire the reservations of order " + stuck), std::string::npos) << host->log();

    // Repaired, it expires at the next sweep.
    db.exec("UPDATE inventory_products SET reserved = 2 WHERE sku = 'BAD'");
    EXPECT_EQ(wait_for("SELECT status FROM inventory_reservations WHERE order_id = '" + stuck + "'", "expired"), "expired");
    EXPECT_EQ(db.scalar("SELECT reserved FROM inventory_products WHERE sku = 'BAD'"), "0");
}
