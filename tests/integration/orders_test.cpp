// The orders plugin through the real host with the real users, inventory and
// orders plugins (plus the probe, to publish payment.captured as the payments
// plugin will): placing orders and every way it can be refused, overselling
// under concurrency (one host, then two on one database), Idempotency-Key,
// every move of the state machine over HTTP, reservation expiry (also with
// two hosts), keyset pagination under concurrent inserts and its query plan,
// and who may see what.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <future>
#include <iostream>
#include <mutex>
#include <regex>
#include <set>
#include <thread>
#include <vector>

#include "common.hpp"
#include "shop.hpp"
#include "order_list_sql.hpp"

using namespace omstest;
using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// ---------------------------------------------------------------- helpers --

// users, inventory, orders and the probe (no payments: orders must work without it).
PluginDir& plugin_dir() {
    static PluginDir dir({"users.so", "inventory.so", "orders.so", "probe.so"});
    return dir;
}

std::map<std::string, std::string> orders_env(std::map<std::string, std::string> extra = {}) {
    extra["OMS_PLUGIN_DIR"] = plugin_dir().path();
    // No payments plugin here: the probe publishes its events (see capture()).
    extra["PROBE_PUBLISHES"] = "payment.captured,payment.refunded";
    return extra;
}

// Admins come from the CLI; the role is read from the database on every
// request, so the token issued before set-role already carries it.
User make_admin(const TestDatabase& db, int port) {
    User u = sign_up(port, "admin");
    auto r = HostProcess::run({"users", "set-role", u.email, "admin"}, host_env(db, orders_env()));
    if (r.exit_code != 0) throw std::runtime_error("set-role failed: " + r.out + r.err);
    return u;
}

json create_product(int port, const std::string& admin, const std::string& tag, const json& price, int on_hand,
                    const std::string& currency = "INR") {
    auto r = post(port, "/inventory",
                  {{"sku", unique(tag)}, {"name", "Product " + tag}, {"price", price}, {"currency", currency},
                   {"on_hand", on_hand}},
                  admin);
    if (r.status != 201) throw std::runtime_error("creating a product failed: " + r.body);
    return r.json();
}

json product(int port, const std::string& token, const std::string& id) {
    auto r = get(port, "/inventory/" + id, token);
    if (r.status != 200) throw std::runtime_error("reading a product failed: " + r.body);
    return r.json();
}

json items(std::initializer_list<std::pair<std::string, int>> lines) {
    json out = json::array();
    for (auto& [pid, q] : lines) out.push_back({{"product_id", pid}, {"quantity", q}});
    return out;
}

int64_t count(TestDatabase& db, const std::string& sql, std::vector<std::optional<std::string>> params = {}) {
    auto rows = db.query(sql, params);
    auto v = rows.at(0).begin().value();
    return v.is_null() ? 0 : std::stoll(v.get<std::string>());
}

std::set<std::string> error_fields(const HttpResponse& r) {
    std::set<std::string> got;
    for (auto& e : r.json().value("errors", json::array())) got.insert(e.value("field", ""));
    return got;
}

bool is_rfc3339_utc(const json& v) {
    static const std::regex re(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$)");
    return v.is_string() && std::regex_match(v.get<std::string>(), re);
}

// Every plan node of an EXPLAIN (FORMAT JSON) tree.
void plan_nodes(const json& node, std::vector<json>& out) {
    out.push_back(node);
    for (const auto& child : node.value("Plans", json::array())) plan_nodes(child, out);
}

// ------------------------------------------------------------------ suite --

class Orders : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        db_ = new TestDatabase();
        host_ = start_host(*db_, orders_env()).release();
        ASSERT_NE(host_, nullptr);
        port_ = host_->port();
        admin_ = make_admin(*db_, port_);
        alice_ = sign_up(port_, "alice");
        bob_ = sign_up(port_, "bob");
    }
    static void TearDownTestSuite() {
        delete host_;
        delete db_;
    }

    static HttpResponse order(const json& body, const User& who, HeaderList extra = {}) {
        return post(port_, "/orders", body, who.token, std::move(extra));
    }
    // A placed order's id (fails the test otherwise).
    static std::string place(const User& who, const std::string& product_id, int quantity) {
        auto r = order({{"items", items({{product_id, quantity}})}}, who);
        EXPECT_EQ(r.status, 201) << r;
        return r.json().value("id", "");
    }
    static std::string status_of(const std::string& order_id) {
        return db_->query("SELECT status FROM orders WHERE id = $1::uuid", {order_id})[0]["status"];
    }
    static int64_t total_minor(const std::string& order_id) {
        return count(*db_, "SELECT total_amount FROM orders WHERE id = $1::uuid", {order_id});
    }
    // What the payments plugin will publish when the gateway captures a payment.
    static HttpResponse capture(const std::string& order_id, int64_t amount, const std::string& currency = "INR") {
        return post(port_, "/probe/publish",
                    {{"event", "payment.captured"},
                     {"payload",
                      {{"order_id", order_id}, {"payment_id", "pay_x"}, {"amount", amount}, {"currency", currency}}}});
    }
    static HttpResponse set_status(const std::string& order_id, const std::string& status, const User& who,
                                   const std::string& reason = "") {
        json body = {{"status", status}};
        if (!reason.empty()) body["reason"] = reason;
        return post(port_, "/orders/" + order_id + "/status", body, who.token);
    }
    static HttpResponse cancel(const std::string& order_id, const User& who, const std::string& reason = "") {
        json body = json::object();
        if (!reason.empty()) body["reason"] = reason;
        return post(port_, "/orders/" + order_id + "/cancel", body, who.token);
    }
    static int64_t orders_of(const User& who) {
        return count(*db_, "SELECT count(*) FROM orders WHERE customer_id = $1::uuid", {who.id});
    }

    static inline TestDatabase* db_ = nullptr;
    static inline HostProcess* host_ = nullptr;
    static inline int port_ = 0;
    static inline User admin_, alice_, bob_;
};

// ------------------------------------------------------------ placing -----

// Ids are normalised once, at input: an upper-case product id (a valid UUID)
// orders that product, and the answer names it as the catalogue does.
TEST_F(Orders, UpperCaseProductAndCustomerIdsAreTheSameIds) {
    auto p = create_product(port_, admin_.token, "upper-case", 12.5, 5);
    std::string pid = p["product_id"];
    std::string upper = pid;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    std::string customer = alice_.id;
    for (auto& c : customer) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    auto r = order({{"customer_id", customer}, {"items", {{{"product_id", upper}, {"quantity", 2}}}}}, alice_);
    ASSERT_EQ(r.status, 201) << r;
    EXPECT_EQ(r.json()["items"][0]["product_id"], pid) << r;
    EXPECT_EQ(r.json()["customer_id"], alice_.id) << r;
}

TEST_F(Orders, PlacesAnOrderWithExactMoneyAndReservesItsStock) {
    auto a = create_product(port_, admin_.token, "happy-a", 99.99, 10);
    auto b = create_product(port_, admin_.token, "happy-b", 10.5, 5);
    std::string pa = a["product_id"], pb = b["product_id"];

    auto r = order({{"items", {{{"product_id", pa}, {"quantity", 3}, {"price", 99.99}},
                               {{"product_id", pb}, {"quantity", 2}}}},
                    {"total_amount", 320.97}},
                   alice_);
    ASSERT_EQ(r.status, 201) << r;
    auto o = r.json();
    std::string id = o["id"];
    EXPECT_EQ(r.header("Location"), "/orders/" + id);
    EXPECT_EQ(o["customer_id"], alice_.id);
    EXPECT_EQ(o["status"], "pending");
    EXPECT_EQ(o["currency"], "INR");
    EXPECT_EQ(o["total_amount"], json::parse("320.97")) << r;
    EXPECT_TRUE(is_rfc3339_utc(o["reservation_expires_at"])) << r;
    EXPECT_TRUE(is_rfc3339_utc(o["created_at"])) << r;
    ASSERT_EQ(o["items"].size(), 2u) << r;
    auto& l1 = o["items"][0];
    EXPECT_EQ(l1["line"], 1);
    EXPECT_EQ(l1["product_id"], pa);
    EXPECT_EQ(l1["sku"], a["sku"]);
    EXPECT_EQ(l1["name"], a["name"]);
    EXPECT_EQ(l1["quantity"], 3);
    EXPECT_EQ(l1["unit_price"], json::parse("99.99"));
    EXPECT_EQ(l1["line_total"], json::parse("299.97"));  // 9999 × 3 = 29997, no float drift
    EXPECT_EQ(o["items"][1]["line_total"], 21);
    EXPECT_EQ(o["payments"], json::array());

    // Integer minor units in storage.
    EXPECT_EQ(total_minor(id), 32097);
    EXPECT_EQ(count(*db_, "SELECT line_total FROM order_items WHERE order_id = $1::uuid AND line = 1", {id}), 29997);
    // The reservation lasts OMS_RESERVATION_TTL (900 s by default).
    auto ttl = count(*db_, "SELECT round(extract(epoch FROM reservation_expires_at - created_at)) FROM orders "
                           "WHERE id = $1::uuid",
                     {id});
    EXPECT_NEAR(ttl, 900, 5);

    EXPECT_EQ(product(port_, admin_.token, pa)["reserved"], 3);
    EXPECT_EQ(product(port_, admin_.token, pa)["available"], 7);
    EXPECT_EQ(product(port_, admin_.token, pb)["reserved"], 2);

    // GET answers the same order, with its history.
    auto fetched = get(port_, "/orders/" + id, alice_.token);
    ASSERT_EQ(fetched.status, 200) << fetched;
    auto f = fetched.json();
    EXPECT_EQ(f, o) << "POST /orders answers the order exactly as GET /orders/:id shows it";
    ASSERT_EQ(f["history"].size(), 1u) << fetched;
    EXPECT_EQ(f["history"][0]["from"], nullptr);
    EXPECT_EQ(f["history"][0]["to"], "pending");
    EXPECT_EQ(f["history"][0]["actor"], alice_.id);
    EXPECT_EQ(f["history"][0]["reason"], "created");
    EXPECT_TRUE(is_rfc3339_utc(f["history"][0]["at"])) << fetched;
}

TEST_F(Orders, RefusesBadBodiesFieldByField) {
    std::string p = create_product(port_, admin_.token, "valid", 10, 100)["product_id"];
    int64_t before = count(*db_, "SELECT count(*) FROM orders");

    expect_validation(order(json::object(), alice_), {"items"}, "no items");
    expect_validation(order({{"items", json::array()}}, alice_), {"items"}, "empty items");
    expect_validation(order({{"items", "x"}}, alice_), {"items"}, "items not an array");
    json many = json::array();
    for (int i = 0; i < 101; ++i) many.push_back({{"product_id", p}, {"quantity", 1}});
    expect_validation(order({{"items", many}}, alice_), {"items"}, "101 items");

    json bad = json::array({
        {{"product_id", "not-a-uuid"}, {"quantity", 1}},
        {{"product_id", p}, {"quantity", 0}},
        {{"product_id", p}, {"quantity", 10001}},
        {{"product_id", p}, {"quantity", "2"}},
        {{"product_id", p}, {"quantity", 1.5}},
        {{"quantity", 1}},
        {{"product_id", p}},
        5,
        {{"product_id", p}, {"quantity", 1}, {"price", -1}},
        {{"product_id", p}, {"quantity", 1}, {"price", "10.00"}},
        {{"product_id", p}, {"quantity", -3}},
        {{"product_id", p}, {"quantity", 10000}},  // the largest allowed: not an error
    });
    expect_validation(order({{"items", bad}}, alice_),
                      {"items[0].product_id", "items[1].quantity", "items[2].quantity", "items[3].quantity",
                       "items[4].quantity", "items[5].product_id", "items[6].quantity", "items[7]",
                       "items[8].price", "items[9].price", "items[10].quantity"},
                      "every bad line named");

    json one = items({{p, 1}});
    expect_validation(order({{"items", one}, {"currency", "XYZ"}}, alice_), {"currency"}, "unknown currency");
    expect_validation(order({{"items", one}, {"currency", 356}}, alice_), {"currency"}, "currency not a string");
    expect_validation(order({{"items", {{{"product_id", p}, {"quantity", 1}, {"price", json::parse("99.999")}}}}},
                            alice_),
                      {"items[0].price"}, "three decimals in INR");
    expect_validation(order({{"items", one}, {"total_amount", json::parse("10.001")}}, alice_), {"total_amount"},
                      "total with three decimals");
    expect_validation(order({{"items", {{{"product_id", p}, {"quantity", 1}, {"price", 10.5}}}}, {"currency", "JPY"}},
                            alice_),
                      {"items[0].price"}, "yen have no minor unit");
    expect_validation(order({{"items", one}, {"customer_id", "someone"}}, alice_), {"customer_id"},
                      "customer_id not a uuid");
    expect_problem(order(json::array({1, 2}), alice_), 400, "invalid_body");
    expect_problem(http_request(port_, "POST", "/orders", "{\"items\": [", {{"Content-Type", "application/json"},
                                                                           {"Authorization", "Bearer " + alice_.token}}),
                   400, "malformed_json");
    EXPECT_EQ(post(port_, "/orders", {{"items", one}}).status, 401);

    EXPECT_EQ(count(*db_, "SELECT count(*) FROM orders"), before);
    EXPECT_EQ(product(port_, admin_.token, p)["reserved"], 0);
}

TEST_F(Orders, PriceMismatchIs409AndWritesNothing) {
    auto a = create_product(port_, admin_.token, "pm-a", 99.99, 10);
    auto b = create_product(port_, admin_.token, "pm-b", 10.5, 10);
    std::string pa = a["product_id"], pb = b["product_id"];
    int64_t orders = count(*db_, "SELECT count(*) FROM orders");
    int64_t lines = count(*db_, "SELECT count(*) FROM order_items");
    int64_t history = count(*db_, "SELECT count(*) FROM order_status_history");

    auto wrong_line = order({{"items", {{{"product_id", pa}, {"quantity", 1}, {"price", 99.99}},
                                        {{"product_id", pb}, {"quantity", 2}, {"price", 5}}}}},
                            alice_);
    expect_problem(wrong_line, 409, "price_mismatch");
    EXPECT_EQ(error_fields(wrong_line), std::set<std::string>{"items[1].price"}) << wrong_line;

    auto wrong_total = order({{"items", items({{pa, 1}, {pb, 2}})}, {"total_amount", 120}}, alice_);
    expect_problem(wrong_total, 409, "price_mismatch");
    EXPECT_EQ(error_fields(wrong_total), std::set<std::string>{"total_amount"}) << wrong_total;
    EXPECT_NE(wrong_total.json()["errors"][0]["message"].get<std::string>().find("120.99"), std::string::npos)
        << "the message names the server's total: " << wrong_total;

    EXPECT_EQ(count(*db_, "SELECT count(*) FROM orders"), orders);
    EXPECT_EQ(count(*db_, "SELECT count(*) FROM order_items"), lines);
    EXPECT_EQ(count(*db_, "SELECT count(*) FROM order_status_history"), history);
    EXPECT_EQ(product(port_, admin_.token, pa)["reserved"], 0);
    EXPECT_EQ(product(port_, admin_.token, pb)["reserved"], 0);

    // The right prices go through.
    EXPECT_EQ(order({{"items", items({{pa, 1}, {pb, 2}})}, {"total_amount", 120.99}}, alice_).status, 201);
}

TEST_F(Orders, StockAndCatalogueErrorsPassThroughAndWriteNothing) {
    auto low = create_product(port_, admin_.token, "LOW", 1, 2);
    auto fine = create_product(port_, admin_.token, "FINE", 1, 50);
    auto dollars = create_product(port_, admin_.token, "USD", 3, 50, "USD");
    std::string pl = low["product_id"], pf = fine["product_id"], pd = dollars["product_id"];
    int64_t orders = count(*db_, "SELECT count(*) FROM orders");

    auto short_stock = order({{"items", items({{pf, 5}, {pl, 3}})}}, alice_);
    expect_problem(short_stock, 409, "insufficient_stock");
    EXPECT_NE(short_stock.json()["detail"].get<std::string>().find(low["sku"].get<std::string>()), std::string::npos)
        << short_stock;
    EXPECT_EQ(error_fields(short_stock), std::set<std::string>{"items[1].quantity"}) << short_stock;

    auto unknown = order({{"items", items({{pf, 1}, {"00000000-0000-4000-8000-000000000000", 1}})}}, alice_);
    expect_problem(unknown, 400, "unknown_product");
    EXPECT_EQ(error_fields(unknown), std::set<std::string>{"items[1].product_id"}) << unknown;

    auto mixed = order({{"items", items({{pf, 1}, {pd, 1}})}}, alice_);
    expect_problem(mixed, 409, "currency_mismatch");
    EXPECT_EQ(error_fields(mixed), std::set<std::string>{"items[1].product_id"}) << mixed;

    EXPECT_EQ(count(*db_, "SELECT count(*) FROM orders"), orders);
    EXPECT_EQ(product(port_, admin_.token, pf)["reserved"], 0);
    EXPECT_EQ(product(port_, admin_.token, pl)["reserved"], 0);

    // In its own currency the dollar product sells, priced in cents.
    auto usd = order({{"items", {{{"product_id", pd}, {"quantity", 2}, {"price", 3}}}}, {"currency", "usd"}}, alice_);
    ASSERT_EQ(usd.status, 201) << usd;
    EXPECT_EQ(usd.json()["currency"], "USD");
    EXPECT_EQ(usd.json()["total_amount"], 6);
}

TEST_F(Orders, CustomersOrderForThemselvesAdminsForAnyone) {
    std::string p = create_product(port_, admin_.token, "for", 5, 100)["product_id"];
    auto other = order({{"customer_id", bob_.id}, {"items", items({{p, 1}})}}, alice_);
    expect_problem(other, 403, "forbidden");
    EXPECT_EQ(order({{"customer_id", alice_.id}, {"items", items({{p, 1}})}}, alice_).status, 201);

    auto for_bob = order({{"customer_id", bob_.id}, {"items", items({{p, 2}})}}, admin_);
    ASSERT_EQ(for_bob.status, 201) << for_bob;
    EXPECT_EQ(for_bob.json()["customer_id"], bob_.id);
    EXPECT_EQ(for_bob.json()["history"][0]["actor"], admin_.id);
    EXPECT_EQ(get(port_, "/orders/" + for_bob.json()["id"].get<std::string>(), bob_.token).status, 200);

    expect_validation(order({{"customer_id", "00000000-0000-4000-8000-000000000001"}, {"items", items({{p, 1}})}},
                            admin_),
                      {"customer_id"}, "an admin ordering for nobody");
}

// ------------------------------------------------------------ oversell ----

struct OversellRun {
    int created = 0, insufficient = 0, other = 0;
    int min_available = INT_MAX;
    int polls = 0;
    double seconds = 0;
    std::string first_other;
};

// `requests` orders of one unit each from `threads` keep-alive connections,
// spread over `ports`, while another connection watches the product's stock.
OversellRun oversell(const std::vector<int>& ports, const std::string& token, const std::string& admin,
                     const std::string& product_id, int requests, int threads) {
    OversellRun run;
    std::mutex mu;
    std::atomic<int> next{0};
    std::atomic<bool> done{false};
    std::thread watcher([&] {
        HttpConnection c(ports[0]);
        while (!done) {
            auto r = c.request("GET", "/inventory/" + product_id, {}, with_auth(admin));
            if (r.status == 200) {
                auto j = r.json();
                int available = j["on_hand"].get<int>() - j["reserved"].get<int>();
                std::lock_guard lock(mu);
                run.min_available = std::min(run.min_available, available);
                ++run.polls;
            }
            std::this_thread::sleep_for(2ms);
        }
    });
    const std::string body = json({{"items", items({{product_id, 1}})}}).dump();
    auto start = Clock::now();
    std::vector<std::thread> clients;
    for (int t = 0; t < threads; ++t) {
        clients.emplace_back([&, t] {
            std::optional<HttpConnection> c;
            for (int i; (i = next++) < requests;) {
                HttpResponse r;
                try {
                    if (!c) c.emplace(ports[size_t(t) % ports.size()]);
                    r = c->request("POST", "/orders", body,
                                   with_auth(token, {{"Content-Type", "application/json"}}));
                } catch (const std::exception& e) {
                    c.reset();
                    r.status = -1;
                    r.body = e.what();
                }
                std::lock_guard lock(mu);
                if (r.status == 201) ++run.created;
                else if (r.status == 409 && r.json().value("code", "") == "insufficient_stock") ++run.insufficient;
                else if (++run.other == 1) run.first_other = std::to_string(r.status) + " " + r.body;
            }
        });
    }
    for (auto& c : clients) c.join();
    run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    done = true;
    watcher.join();
    return run;
}

void expect_no_oversell(TestDatabase& db, int port, const std::string& admin, const std::string& product_id,
                        const OversellRun& run, const std::string& what) {
    SCOPED_TRACE(what);
    std::printf("[ orders ] %s: %d created, %d insufficient_stock, %d other in %.2f s; min available %d over %d polls\n",
                what.c_str(), run.created, run.insufficient, run.other, run.seconds, run.min_available, run.polls);
    EXPECT_EQ(run.created, 50);
    EXPECT_EQ(run.insufficient, 150);
    EXPECT_EQ(run.other, 0) << run.first_other;
    EXPECT_GE(run.min_available, 0);
    EXPECT_GT(run.polls, 0);
    EXPECT_EQ(count(db, "SELECT sum(quantity) FROM order_items WHERE product_id = $1::uuid", {product_id}), 50);
    EXPECT_EQ(count(db, "SELECT count(DISTINCT order_id) FROM order_items WHERE product_id = $1::uuid", {product_id}),
              50);
    auto p = product(port, admin, product_id);
    EXPECT_EQ(p["on_hand"], 50);
    EXPECT_EQ(p["reserved"], 50);
    EXPECT_EQ(p["available"], 0);
}

TEST_F(Orders, TwoHundredBuyersOfFiftyUnitsNeverOversell) {
    std::string p = create_product(port_, admin_.token, "hot", 1, 50)["product_id"];
    auto run = oversell({port_}, alice_.token, admin_.token, p, 200, 24);
    expect_no_oversell(*db_, port_, admin_.token, p, run, "one host, 24 connections");
}

TEST_F(Orders, TwoHostsOnOneDatabaseNeverOversell) {
    auto second = start_host(*db_, orders_env());
    ASSERT_NE(second, nullptr);
    std::string p = create_product(port_, admin_.token, "hot2", 1, 50)["product_id"];
    auto run = oversell({port_, second->port()}, bob_.token, admin_.token, p, 200, 32);
    expect_no_oversell(*db_, port_, admin_.token, p, run, "two hosts, 32 connections");
}

// --------------------------------------------------------- idempotency ----

TEST_F(Orders, IdempotencyKeyReplaysTheOrderInsteadOfPlacingItTwice) {
    std::string p = create_product(port_, admin_.token, "idem", 2, 100)["product_id"];
    json body = {{"items", items({{p, 2}})}};
    int64_t before = orders_of(alice_);

    std::string key = unique("key");
    auto first = order(body, alice_, {{"Idempotency-Key", key}});
    ASSERT_EQ(first.status, 201) << first;
    for (int i = 0; i < 2; ++i) {
        auto again = order(body, alice_, {{"Idempotency-Key", key}});
        EXPECT_EQ(again.status, 201) << again;
        EXPECT_EQ(again.body, first.body);
        EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
        EXPECT_EQ(again.header("Location"), first.header("Location"));
    }
    EXPECT_EQ(orders_of(alice_), before + 1);
    EXPECT_EQ(product(port_, admin_.token, p)["reserved"], 2);

    expect_problem(order({{"items", items({{p, 3}})}}, alice_, {{"Idempotency-Key", key}}), 422,
                   "idempotency_key_reused");
    EXPECT_EQ(orders_of(alice_), before + 1);

    // Simultaneous requests with one key: one order.
    std::string race = unique("race");
    std::vector<std::future<HttpResponse>> all;
    for (int i = 0; i < 8; ++i)
        all.push_back(std::async(std::launch::async, [&] { return order(body, alice_, {{"Idempotency-Key", race}}); }));
    int placed = 0;
    for (auto& f : all) {
        auto r = f.get();
        EXPECT_TRUE(r.status == 201 || (r.status == 409 && r.json().value("code", "") == "idempotency_key_in_use")) << r;
        if (r.status == 201 && !r.has_header("Idempotent-Replayed")) ++placed;
    }
    EXPECT_EQ(placed, 1);
    EXPECT_EQ(orders_of(alice_), before + 2);
    EXPECT_EQ(product(port_, admin_.token, p)["reserved"], 4);
}

// ------------------------------------------------------- state machine ----

TEST_F(Orders, PaymentCaptureCommitsStockAndOnlyTheExactAmountPays) {
    auto prod = create_product(port_, admin_.token, "pay", 10, 20);
    std::string p = prod["product_id"];
    std::string id = place(alice_, p, 2);
    int64_t total = total_minor(id);
    ASSERT_EQ(total, 2000);

    ASSERT_EQ(capture(id, total - 1).status, 200);
    EXPECT_EQ(status_of(id), "pending") << "a smaller capture never pays";
    ASSERT_EQ(capture(id, total + 100).status, 200);
    EXPECT_EQ(status_of(id), "pending") << "a larger capture never pays";
    ASSERT_EQ(capture(id, total, "USD").status, 200);
    EXPECT_EQ(status_of(id), "pending") << "another currency never pays";
    EXPECT_EQ(product(port_, admin_.token, p)["reserved"], 2);

    auto paid = capture(id, total);
    ASSERT_EQ(paid.status, 200) << paid;
    EXPECT_EQ(status_of(id), "paid");
    auto after = product(port_, admin_.token, p);
    EXPECT_EQ(after["on_hand"], 18) << "committed: the sale leaves the shelf";
    EXPECT_EQ(after["reserved"], 0);

    // A duplicate capture changes nothing.
    ASSERT_EQ(capture(id, total).status, 200);
    EXPECT_EQ(product(port_, admin_.token, p)["on_hand"], 18);
    auto o = get(port_, "/orders/" + id, alice_.token).json();
    ASSERT_EQ(o["history"].size(), 2u) << o;
    EXPECT_EQ(o["history"][1]["from"], "pending");
    EXPECT_EQ(o["history"][1]["to"], "paid");
    EXPECT_EQ(o["history"][1]["actor"], "payments");
    EXPECT_EQ(o["history"][1]["reason"], "payment captured (pay_x)");
}

// What the payments plugin publishes when a refund is processed: only a
// full refund of a paid (or delivered) order makes it refunded, once.
TEST_F(Orders, AFullRefundMakesAPaidOrderRefundedAPartialOneDoesNot) {
    std::string p = create_product(port_, admin_.token, "refund", 10, 5)["product_id"];
    auto refunded = [&](const std::string& id, bool full) {
        return post(port_, "/probe/publish",
                    {{"event", "payment.refunded"},
                     {"payload", {{"order_id", id}, {"payment_id", "pay_r"}, {"amount", 500},
                                  {"refunded_total", full ? 1000 : 500}, {"currency", "INR"}, {"full", full}}}});
    };
    std::string id = place(alice_, p, 1);
    ASSERT_EQ(refunded(id, true).status, 200);
    EXPECT_EQ(status_of(id), "pending") << "an unpaid order is not refunded";
    ASSERT_EQ(capture(id, total_minor(id)).status, 200);
    ASSERT_EQ(refunded(id, false).status, 200);
    EXPECT_EQ(status_of(id), "paid") << "a partial refund leaves the order paid";
    ASSERT_EQ(refunded(id, true).status, 200);
    EXPECT_EQ(status_of(id), "refunded");
    ASSERT_EQ(refunded(id, true).status, 200);  // a replay changes nothing
    auto o = get(port_, "/orders/" + id, alice_.token).json();
    ASSERT_EQ(o["history"].size(), 3u) << o;
    EXPECT_EQ(o["history"][2]["actor"], "payments");
    EXPECT_EQ(o["history"][2]["reason"], "payment refunded (pay_r)");
    EXPECT_EQ(product(port_, admin_.token, p)["on_hand"], 4) << "a refund leaves stock alone";
}

TEST_F(Orders, EveryMoveOfTheStateMachine) {
    std::string p = create_product(port_, admin_.token, "sm", 10, 100)["product_id"];
    auto paid_order = [&] {
        std::string id = place(alice_, p, 1);
        EXPECT_EQ(capture(id, total_minor(id)).status, 200);
        EXPECT_EQ(status_of(id), "paid");
        return id;
    };

    // paid → shipped → delivered → refunded, by an admin.
    std::string a = paid_order();
    expect_problem(set_status(a, "shipped", alice_), 403, "forbidden");
    expect_problem(cancel(a, alice_), 409, "invalid_transition");  // a customer cannot cancel once paid
    expect_problem(set_status(a, "delivered", admin_), 409, "invalid_transition");
    expect_problem(set_status(a, "pending", admin_), 409, "invalid_transition");
    auto shipped = set_status(a, "shipped", admin_, "left the warehouse");
    ASSERT_EQ(shipped.status, 200) << shipped;
    EXPECT_EQ(shipped.json()["status"], "shipped");
    expect_problem(cancel(a, admin_), 409, "invalid_transition");
    expect_problem(set_status(a, "refunded", admin_), 409, "invalid_transition");
    ASSERT_EQ(set_status(a, "delivered", admin_).status, 200);
    auto cancelled = cancel(a, admin_);
    expect_problem(cancelled, 409, "invalid_transition");
    EXPECT_NE(cancelled.json()["detail"].get<std::string>().find("delivered to cancelled"), std::string::npos)
        << cancelled;
    ASSERT_EQ(set_status(a, "refunded", admin_, "damaged in transit").status, 200);
    for (auto to : {"pending", "paid", "shipped", "delivered", "cancelled", "expired", "refunded"})
        expect_problem(set_status(a, to, admin_), 409, "invalid_transition");
    auto history = get(port_, "/orders/" + a, alice_.token).json()["history"];
    ASSERT_EQ(history.size(), 5u) << history;
    std::vector<std::tuple<json, std::string, std::string, json>> want = {
        {nullptr, "pending", alice_.id, "created"},
        {"pending", "paid", "payments", "payment captured (pay_x)"},
        {"paid", "shipped", admin_.id, "left the warehouse"},
        {"shipped", "delivered", admin_.id, nullptr},
        {"delivered", "refunded", admin_.id, "damaged in transit"},
    };
    for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(history[i]["from"], std::get<0>(want[i])) << i;
        EXPECT_EQ(history[i]["to"], std::get<1>(want[i])) << i;
        EXPECT_EQ(history[i]["actor"], std::get<2>(want[i])) << i;
        EXPECT_EQ(history[i]["reason"], std::get<3>(want[i])) << i;
    }

    // pending: only payments pay, only the system expires, nobody ships.
    int64_t reserved = product(port_, admin_.token, p)["reserved"];
    std::string b = place(alice_, p, 3);
    expect_problem(set_status(b, "shipped", admin_), 409, "invalid_transition");
    expect_problem(set_status(b, "paid", admin_), 409, "invalid_transition");
    expect_problem(set_status(b, "expired", admin_), 409, "invalid_transition");
    expect_validation(set_status(b, "lost", admin_), {"status"}, "not a status");
    // pending → cancelled by its owner releases the stock.
    EXPECT_EQ(product(port_, admin_.token, p)["reserved"], reserved + 3);
    auto by_owner = cancel(b, alice_, "changed my mind");
    ASSERT_EQ(by_owner.status, 200) << by_owner;
    EXPECT_EQ(by_owner.json()["status"], "cancelled");
    EXPECT_EQ(product(port_, admin_.token, p)["reserved"], reserved);
    expect_problem(cancel(b, alice_), 409, "invalid_transition");
    ASSERT_EQ(capture(b, total_minor(b)).status, 200);
    EXPECT_EQ(status_of(b), "cancelled") << "a late capture does not revive a cancelled order";
    EXPECT_EQ(count(*db_, "SELECT count(*) FROM order_status_history WHERE order_id = $1::uuid", {b}), 2);

    // pending → cancelled by an admin.
    std::string c = place(bob_, p, 1);
    ASSERT_EQ(cancel(c, admin_).status, 200);
    EXPECT_EQ(status_of(c), "cancelled");

    // paid → cancelled (admin) puts the committed stock back on the shelf.
    std::string d = paid_order();
    int64_t on_hand = product(port_, admin_.token, p)["on_hand"];
    auto refunded_cancel = cancel(d, admin_, "out of stock at the warehouse");
    ASSERT_EQ(refunded_cancel.status, 200) << refunded_cancel;
    EXPECT_EQ(refunded_cancel.json()["status"], "cancelled");
    EXPECT_EQ(product(port_, admin_.token, p)["on_hand"], on_hand + 1);

    // paid → refunded (admin).
    std::string e = paid_order();
    ASSERT_EQ(set_status(e, "refunded", admin_).status, 200);
    EXPECT_EQ(status_of(e), "refunded");
    expect_problem(set_status(e, "shipped", admin_), 409, "invalid_transition");

    // A refused move writes no history.
    EXPECT_EQ(count(*db_, "SELECT count(*) FROM order_status_history WHERE order_id = $1::uuid", {e}), 3);
}

// A capture and a cancel of the same order at once: one wins, the other is
// refused whole, and the stock matches the outcome (no deadlock, no paid
// order with released stock, no cancelled order with committed stock).
TEST_F(Orders, CaptureRacingCancelLeavesStockConsistent) {
    std::string p = create_product(port_, admin_.token, "race", 10, 40)["product_id"];
    std::vector<std::string> ids;
    for (int i = 0; i < 20; ++i) ids.push_back(place(alice_, p, 1));
    std::vector<std::future<HttpResponse>> captures, cancels;
    for (size_t i = 0; i < ids.size(); ++i) {
        const std::string& id = ids[i];
        // The admin may cancel a paid order too: that cancel must then not
        // go through on the stock it chose for a pending one.
        const User& who = i % 2 ? admin_ : alice_;
        captures.push_back(std::async(std::launch::async, [&] { return capture(id, 1000); }));
        cancels.push_back(std::async(std::launch::async, [&] { return cancel(id, who, "race"); }));
    }
    int paid = 0, cancelled = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
        auto cap = captures[i].get();
        auto can = cancels[i].get();
        EXPECT_TRUE(cap.status == 200 || (cap.status == 409 && cap.json()["code"] == "reservation_not_active")) << cap;
        std::string code = can.status == 409 ? can.json().value("code", "") : "";
        EXPECT_TRUE(can.status == 200 || code == "invalid_transition" || code == "order_changed") << can;
        std::string status = status_of(ids[i]);
        EXPECT_TRUE(status == "paid" || status == "cancelled") << status;
        // pending → paid | cancelled, or (the admin cancelling after the
        // capture won) pending → paid → cancelled, refunded and restocked.
        std::string path = db_->query("SELECT string_agg(to_status, ',' ORDER BY id) AS path "
                                      "FROM order_status_history WHERE order_id = $1::uuid",
                                      {ids[i]})[0]["path"];
        bool admin_cancelled_paid = i % 2 && path == "pending,paid,cancelled";
        EXPECT_TRUE(path == "pending," + status || admin_cancelled_paid) << path;
        (status == "paid" ? paid : cancelled)++;  // a cancelled paid order was restocked
    }
    std::printf("[ orders ] capture racing cancel on 20 orders: %d paid, %d cancelled\n", paid, cancelled);
    auto prod = product(port_, admin_.token, p);
    EXPECT_EQ(prod["on_hand"], 40 - paid);
    EXPECT_EQ(prod["reserved"], 0);
}

// ------------------------------------------------------------- expiry -----

TEST(OrdersExpiry, UnpaidOrdersExpireOnceAcrossTwoHosts) {
    TestDatabase db;
    std::map<std::string, std::string> fast = {{"OMS_RESERVATION_TTL", "1"}, {"OMS_RESERVATION_SWEEP_MS", "100"}};
    auto h1 = start_host(db, orders_env(fast));
    ASSERT_NE(h1, nullptr);
    auto h2 = start_host(db, orders_env(fast));
    ASSERT_NE(h2, nullptr);
    User admin = make_admin(db, h1->port());
    User carol = sign_up(h1->port(), "carol");
    auto prod = create_product(h1->port(), admin.token, "exp", 7, 20);
    std::string p = prod["product_id"];

    auto wait_expired = [&](const std::vector<std::string>& ids, std::chrono::milliseconds limit) {
        auto until = Clock::now() + limit;
        std::string list = "{";
        for (auto& id : ids) list += (list.size() > 1 ? "," : "") + id;
        list += "}";
        while (Clock::now() < until) {
            if (count(db, "SELECT count(*) FROM orders WHERE id = ANY($1::uuid[]) AND status = 'expired'", {list}) ==
                int64_t(ids.size()))
                return true;
            std::this_thread::sleep_for(50ms);
        }
        return false;
    };

    // One order: expired within about a second, its stock available again.
    auto placed = post(h1->port(), "/orders", {{"items", items({{p, 3}})}}, carol.token);
    ASSERT_EQ(placed.status, 201) << placed;
    std::string id = placed.json()["id"];
    auto start = Clock::now();
    ASSERT_TRUE(wait_expired({id}, 3s)) << "status: " << get(h1->port(), "/orders/" + id, carol.token);
    double took = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("[ orders ] an unpaid order (TTL 1 s, sweep 100 ms) expired %.2f s after it was placed\n", took);
    auto p_after = product(h1->port(), admin.token, p);
    EXPECT_EQ(p_after["reserved"], 0);
    EXPECT_EQ(p_after["available"], 20);
    auto o = get(h1->port(), "/orders/" + id, carol.token).json();
    ASSERT_EQ(o["history"].size(), 2u) << o;
    EXPECT_EQ(o["history"][1]["from"], "pending");
    EXPECT_EQ(o["history"][1]["to"], "expired");
    EXPECT_EQ(o["history"][1]["actor"], "system");
    EXPECT_EQ(o["history"][1]["reason"], "reservation expired");

    // expired is final: a late capture, an admin or the owner change nothing.
    auto late = post(h1->port(), "/probe/publish",
                     {{"event", "payment.captured"},
                      {"payload", {{"order_id", id}, {"payment_id", "pay_late"}, {"amount", 2100}, {"currency", "INR"}}}});
    EXPECT_EQ(late.status, 200) << late;
    expect_problem(post(h1->port(), "/orders/" + id + "/status", {{"status", "paid"}}, admin.token), 409,
                   "invalid_transition");
    expect_problem(post(h1->port(), "/orders/" + id + "/cancel", json::object(), carol.token), 409,
                   "invalid_transition");
    expect_problem(post(h1->port(), "/orders/" + id + "/cancel", json::object(), admin.token), 409,
                   "invalid_transition");
    EXPECT_EQ(count(db, "SELECT count(*) FROM orders WHERE id = $1::uuid AND status = 'expired'", {id}), 1);
    EXPECT_EQ(product(h1->port(), admin.token, p)["on_hand"], 20);

    // Ten orders placed through both hosts, swept by both: each expires once.
    std::vector<std::string> ids;
    for (int i = 0; i < 10; ++i) {
        int port = i % 2 ? h2->port() : h1->port();
        auto r = post(port, "/orders", {{"items", items({{p, 1}})}}, carol.token);
        ASSERT_EQ(r.status, 201) << r;
        ids.push_back(r.json()["id"]);
    }
    ASSERT_TRUE(wait_expired(ids, 5s));
    std::this_thread::sleep_for(300ms);  // a few more sweeps by both hosts
    for (const auto& oid : ids) {
        EXPECT_EQ(count(db, "SELECT count(*) FROM order_status_history WHERE order_id = $1::uuid AND to_status = 'expired'",
                        {oid}),
                  1)
            << oid;
    }
    EXPECT_EQ(product(h1->port(), admin.token, p)["reserved"], 0);
}

// ---------------------------------------------------------- pagination ----

TEST_F(Orders, PagesAreStableWhileOrdersArePlaced) {
    User dave = sign_up(port_, "dave");
    std::string p = create_product(port_, admin_.token, "page", 1, 10000)["product_id"];
    std::set<std::string> initial;
    for (int i = 0; i < 25; ++i) initial.insert(place(dave, p, 1));
    // The order the pages must follow, as the database sorts it.
    std::vector<std::string> expected;
    for (auto& row : db_->query("SELECT id FROM orders WHERE customer_id = $1::uuid ORDER BY created_at DESC, id DESC",
                                {dave.id}))
        expected.push_back(row["id"]);

    std::atomic<bool> walking{true};
    std::atomic<int> added{0};
    std::thread writer([&] {
        HttpConnection c(port_);
        std::string body = json({{"items", items({{p, 1}})}}).dump();
        while (walking) {
            auto r = c.request("POST", "/orders", body, with_auth(dave.token, {{"Content-Type", "application/json"}}));
            if (r.status == 201) ++added;
            std::this_thread::sleep_for(5ms);
        }
    });

    std::vector<std::string> walked;
    std::string cursor;
    int pages = 0;
    HttpConnection c(port_);
    do {
        std::string target = "/orders?limit=7" + (cursor.empty() ? "" : "&cursor=" + cursor);
        auto r = c.request("GET", target, {}, with_auth(dave.token));
        ASSERT_EQ(r.status, 200) << r;
        auto page = r.json();
        EXPECT_LE(page["data"].size(), 7u);
        for (auto& o : page["data"]) {
            walked.push_back(o["id"]);
            EXPECT_EQ(o["customer_id"], dave.id);
            EXPECT_EQ(o["items"].size(), 1u) << "list entries carry their items";
            EXPECT_FALSE(o.contains("history"));
        }
        cursor = page["next_cursor"].is_null() ? "" : page["next_cursor"].get<std::string>();
        ++pages;
        std::this_thread::sleep_for(20ms);  // let the writer add orders between pages
    } while (!cursor.empty() && pages < 100);
    walking = false;
    writer.join();

    std::printf("[ orders ] walked %d pages of 7 (%zu orders) while %d more were placed\n", pages, walked.size(),
                added.load());
    EXPECT_GT(added.load(), 0);
    std::set<std::string> unique_ids(walked.begin(), walked.end());
    EXPECT_EQ(unique_ids.size(), walked.size()) << "no order twice";
    std::vector<std::string> seen_initial;
    for (auto& id : walked)
        if (initial.count(id)) seen_initial.push_back(id);
    EXPECT_EQ(seen_initial, expected) << "every order that existed at the start, once, newest first";

    expect_problem(get(port_, "/orders?limit=0", dave.token), 400, "invalid_parameter");
    expect_problem(get(port_, "/orders?limit=101", dave.token), 400, "invalid_parameter");
    expect_problem(get(port_, "/orders?cursor=%21%21", dave.token), 400, "invalid_cursor");
    expect_problem(get(port_, "/orders?cursor=e30", dave.token), 400, "invalid_cursor");  // "{}"
}

TEST_F(Orders, CustomersSeeTheirOwnAdminsFilter) {
    std::string p = create_product(port_, admin_.token, "vis", 1, 100)["product_id"];
    std::string mine = place(alice_, p, 1);
    std::string theirs = place(bob_, p, 1);
    ASSERT_EQ(cancel(theirs, bob_).status, 200);

    // Another customer's order is not there at all.
    expect_problem(get(port_, "/orders/" + mine, bob_.token), 404, "not_found");
    expect_problem(cancel(mine, bob_), 404, "not_found");
    expect_problem(get(port_, "/orders/not-a-uuid", alice_.token), 404, "not_found");
    expect_problem(get(port_, "/orders/00000000-0000-4000-8000-000000000000", alice_.token), 404, "not_found");
    EXPECT_EQ(get(port_, "/orders/" + mine, alice_.token).status, 200);
    EXPECT_EQ(get(port_, "/orders/" + mine, admin_.token).status, 200);
    EXPECT_EQ(get(port_, "/orders/" + mine, "").status, 401);

    // Lists: one's own; another customer's is 403; admins filter.
    auto own = get(port_, "/orders?limit=100", bob_.token).json();
    for (auto& o : own["data"]) EXPECT_EQ(o["customer_id"], bob_.id);
    expect_problem(get(port_, "/orders?customer_id=" + alice_.id, bob_.token), 403, "forbidden");
    EXPECT_EQ(get(port_, "/orders?customer_id=" + bob_.id, bob_.token).status, 200);
    expect_problem(get(port_, "/orders?status=lost", admin_.token), 400, "invalid_parameter");
    expect_problem(get(port_, "/orders?customer_id=x", admin_.token), 400, "invalid_parameter");

    auto by_customer = get(port_, "/orders?limit=100&customer_id=" + bob_.id, admin_.token).json();
    ASSERT_FALSE(by_customer["data"].empty());
    for (auto& o : by_customer["data"]) EXPECT_EQ(o["customer_id"], bob_.id);
    auto cancelled = get(port_, "/orders?limit=100&status=cancelled", admin_.token).json();
    ASSERT_FALSE(cancelled["data"].empty());
    for (auto& o : cancelled["data"]) EXPECT_EQ(o["status"], "cancelled");
    auto both = get(port_, "/orders?limit=100&status=cancelled&customer_id=" + bob_.id, admin_.token).json();
    bool found = false;
    for (auto& o : both["data"]) {
        EXPECT_EQ(o["status"], "cancelled");
        EXPECT_EQ(o["customer_id"], bob_.id);
        found = found || o["id"] == theirs;
    }
    EXPECT_TRUE(found);
    auto everyone = get(port_, "/orders?limit=100", admin_.token).json();
    std::set<std::string> customers;
    for (auto& o : everyone["data"]) customers.insert(o["customer_id"]);
    EXPECT_GE(customers.size(), 2u) << "admins see everyone's orders";
}

// Runs last: it adds 2000 orders straight into the table.
TEST_F(Orders, PageNIsAnIndexRangeScanWithoutSort) {
    User erin = sign_up(port_, "erin");
    std::string p = create_product(port_, admin_.token, "plan", 1, 100)["product_id"];
    for (int i = 0; i < 3; ++i) place(erin, p, 1);
    // Many customers; few orders each; most orders long delivered.
    db_->query("INSERT INTO orders (customer_id, status, currency, total_amount, created_at, updated_at) "
               "SELECT CASE WHEN i % 40 = 0 THEN $1::uuid ELSE gen_random_uuid() END, "
               "       CASE WHEN i % 20 = 0 THEN 'shipped' ELSE 'delivered' END, 'INR', 100, "
               "       now() - i * interval '1 minute', now() "
               "FROM generate_series(1, 2000) AS i",
               {erin.id});
    db_->exec("ANALYZE orders");

    // A real cursor from the API, for each way the list is filtered.
    auto cursor_after = [&](const std::string& query, const User& who) -> std::pair<std::string, std::string> {
        auto page = get(port_, "/orders?limit=7" + query, who.token);
        EXPECT_EQ(page.status, 200) << page;
        auto raw = b64_decode(page.json().value("next_cursor", ""));
        EXPECT_TRUE(raw) << page;
        auto key = json::parse(raw.value_or("{}"));
        return {key.value("created_at", ""), key.value("id", "")};
    };
    struct Case {
        std::string what, query;
        const User* who;
        orders::ListShape shape;
        std::string index;
        std::vector<std::string> leading;  // parameters before the cursor's
    };
    std::vector<Case> cases = {
        {"a customer's own", "", &erin, {true, "", true}, "orders_customer_page", {erin.id}},
        {"everyone's (admin)", "", &admin_, {false, "", true}, "orders_page", {}},
        {"by status (admin)", "&status=shipped", &admin_, {false, "shipped", true}, "orders_status_page", {}},
    };
    static const std::regex safe(R"(^[0-9A-Za-z:.+\- T]+$)");
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        auto [t, id] = cursor_after(c.query, *c.who);
        ASSERT_TRUE(std::regex_match(t, safe) && std::regex_match(id, safe)) << t << " " << id;
        std::string args;
        for (auto& a : c.leading) args += "'" + a + "', ";
        args += "'" + t + "', '" + id + "', 8";
        db_->exec("PREPARE page_n AS " + orders::list_sql(c.shape));
        for (const char* mode : {"force_custom_plan", "force_generic_plan"}) {
            SCOPED_TRACE(mode);
            db_->exec(std::string("SET plan_cache_mode = ") + mode);
            auto explained = db_->query("EXPLAIN (FORMAT JSON) EXECUTE page_n(" + args + ")");
            auto plan = json::parse(explained[0]["QUERY PLAN"].get<std::string>())[0]["Plan"];
            std::vector<json> nodes;
            plan_nodes(plan, nodes);
            bool scan = false;
            for (auto& n : nodes) {
                std::string type = n.value("Node Type", "");
                EXPECT_EQ(type.find("Sort"), std::string::npos) << plan.dump(1);
                if ((type == "Index Scan" || type == "Index Only Scan") && n.value("Index Name", "") == c.index) {
                    scan = true;
                    // The cursor bounds the scan itself, so page N reads what page 1 reads.
                    EXPECT_NE(n.value("Index Cond", "").find("created_at"), std::string::npos) << plan.dump(1);
                }
            }
            EXPECT_TRUE(scan) << plan.dump(1);
        }
        db_->exec("DEALLOCATE page_n; RESET plan_cache_mode");
    }
}

}  // namespace

// users.get: the public way for another plugin to find an account (issue 19,
// item 2), called here through the probe plugin as a plugin would.
TEST_F(Orders, UsersGetFindsAnAccountByIdOrEmailWithoutItsHash) {
    auto call = [&](const json& args) {
        return http_post_json(port_, "/probe/call", {{"service", "users.get"}, {"args", args}});
    };
    auto by_id = call({{"user_id", alice_.id}});
    ASSERT_EQ(by_id.status, 200) << by_id;
    EXPECT_EQ(by_id.json()["id"], alice_.id);
    EXPECT_EQ(by_id.json()["role"], "customer");
    EXPECT_FALSE(by_id.json().contains("password_hash")) << by_id;
    auto by_email = call({{"email", by_id.json()["email"].get<std::string>()}});
    ASSERT_EQ(by_email.status, 200) << by_email;
    EXPECT_EQ(by_email.json()["id"], alice_.id);
    expect_problem(call({{"user_id", "00000000-0000-4000-8000-000000000000"}}), 404, "not_found");
    // Neither key breaks the declared contract (anyOf user_id, email): the
    // host's check names it; "nope" matches the schema, users.get refuses it.
    expect_problem(call(json::object()), 500, "contract_violation");
    expect_problem(call({{"user_id", "nope"}}), 400, "validation_failed");
}
