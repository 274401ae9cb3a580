// The payments plugin through the real host with the real users, inventory,
// orders and payments plugins, against the fake Razorpay gateway
// (tests/fake_razorpay) in this process on real sockets: the plugin's HTTP
// client calls the fake's API, the fake delivers signed webhooks to the host.
//
// Covered: the whole purchase (register → login → order → payment → signed
// payment.captured → paid, stock committed); signatures (missing, wrong,
// re-serialised body, the wrong secret) changing nothing; one effect from 20
// deliveries of an event, also concurrent; events out of order; a failed
// attempt then a successful one; Razorpay's late authorisation; the gateway
// down, erroring or slow (502, no payment row, no blind retry); captures the
// order cannot accept (after expiry, after cancel, another amount) refunded
// automatically; an admin's cancel of a paid order refunding it; partial and
// full refunds through the route and refund.processed; checkout verification;
// HMACs cross-checked with `openssl dgst`; the simulated gateway walk-through;
// start-up refusals of bad settings; index use of the plugin's lookups.
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/ThreadPool.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <regex>
#include <thread>

#include <algorithm>

#include "common.hpp"
#include "shop.hpp"
#include "fake_razorpay.hpp"
#include "signature.hpp"  // the plugin's own HMAC code, cross-checked below

using namespace omstest;
using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// ---------------------------------------------------------------- helpers --

PluginDir& plugin_dir() {
    static PluginDir dir({"users.so", "inventory.so", "orders.so", "payments.so", "probe.so"});
    return dir;
}

int64_t count(TestDatabase& db, const std::string& sql, std::vector<std::optional<std::string>> params = {}) {
    auto rows = db.query(sql, params);
    auto v = rows.at(0).begin().value();
    return v.is_null() ? 0 : std::stoll(v.get<std::string>());
}

// `openssl dgst -sha256 -hmac KEY` over exactly these bytes: an implementation
// that shares no code with the plugin or the fake.
std::string openssl_hmac(const std::string& key, const std::string& data) {
    char tmpl[] = "/tmp/oms-hmac-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    close(fd);
    std::ofstream(tmpl, std::ios::binary) << data;
    std::string cmd = "openssl dgst -sha256 -hmac '" + key + "' -r < " + tmpl;
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[256];
    while (p && fgets(buf, sizeof buf, p)) out += buf;
    if (p) pclose(p);
    std::filesystem::remove(tmpl);
    std::smatch m;
    if (!std::regex_search(out, m, std::regex("^[0-9a-f]{64}"))) throw std::runtime_error("openssl said: " + out);
    return m.str();
}

bool looks_like_uuid(const std::string& s) {
    static const std::regex re("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$");
    return std::regex_match(s, re);
}


// The error entry {field, message} of a problem answer for `field`, or "".
std::string problem_field(const HttpResponse& r, const std::string& field) {
    for (auto& e : r.json().value("errors", json::array()))
        if (e.value("field", "") == field) return e.value("message", "");
    return "";
}

// ------------------------------------------------------------------ a shop --

// A database, a fake gateway and a host whose payments plugin talks to it;
// the fake's webhooks go to that host.
struct Shop {
    TestDatabase db;
    FakeRazorpay fake;
    std::map<std::string, std::string> env;
    std::unique_ptr<HostProcess> host;
    int port = 0;
    User admin;

    // with_keys = false: no RAZORPAY_* at all (the simulated gateway).
    explicit Shop(std::map<std::string, std::string> extra = {}, bool with_keys = true) {
        env = {{"OMS_PLUGIN_DIR", plugin_dir().path()}};
        if (with_keys) {
            env["RAZORPAY_KEY_ID"] = fake.options().key_id;
            env["RAZORPAY_KEY_SECRET"] = fake.options().key_secret;
            env["RAZORPAY_WEBHOOK_SECRET"] = fake.options().webhook_secret;
            env["RAZORPAY_API_BASE"] = fake.api_base();
            env["RAZORPAY_TIMEOUT_MS"] = "1000";
        }
        for (auto& [k, v] : extra) env[k] = v;
        host = start_host(db, env);
        if (!host) throw std::runtime_error("the host did not start");
        port = host->port();
        fake.set_webhook_url("http://127.0.0.1:" + std::to_string(port) + "/payments/webhook");
        admin = sign_up(port, "admin");
        auto r = HostProcess::run({"users", "set-role", admin.email, "admin"}, host_env(db, env));
        if (r.exit_code != 0) throw std::runtime_error("set-role failed: " + r.out + r.err);
    }

    json product(const std::string& id) {
        auto r = get(port, "/inventory/" + id, admin.token);
        if (r.status != 200) throw std::runtime_error("reading a product failed: " + r.body);
        return r.json();
    }

    struct Placed {
        std::string order_id, product_id;
        int64_t total = 0;  // minor units
    };
    // A new product (`stock` units at `price`) and an order of `quantity` of it.
    Placed place(const User& who, const json& price = 10, int quantity = 2, int stock = 10) {
        auto prod = post(port, "/inventory",
                         {{"sku", unique("sku")}, {"name", "Widget"}, {"price", price}, {"currency", "INR"},
                          {"on_hand", stock}},
                         admin.token);
        if (prod.status != 201) throw std::runtime_error("creating a product failed: " + prod.body);
        Placed p;
        p.product_id = prod.json()["product_id"];
        auto o = post(port, "/orders", {{"items", {{{"product_id", p.product_id}, {"quantity", quantity}}}}},
                      who.token);
        if (o.status != 201) throw std::runtime_error("placing an order failed: " + o.body);
        p.order_id = o.json()["id"];
        p.total = count(db, "SELECT total_amount FROM orders WHERE id = $1::uuid", {p.order_id});
        return p;
    }

    HttpResponse start_payment(const User& who, const std::string& order_id, HeaderList extra = {}) {
        return post(port, "/payments", {{"order_id", order_id}}, who.token, std::move(extra));
    }
    // A new payment's JSON (fails the test unless 201).
    json new_payment(const User& who, const std::string& order_id) {
        auto r = start_payment(who, order_id);
        EXPECT_EQ(r.status, 201) << r;
        return r.json();
    }
    // What the customer and the bank do at checkout: authorised, then captured.
    std::string pay_at_gateway(const std::string& gateway_order_id) {
        std::string pay = fake.authorize(gateway_order_id);
        fake.capture(pay);
        return pay;
    }

    // An order paid in full at the gateway and through the capture webhook.
    struct Paid {
        Placed placed;
        json payment;
        std::string pay;  // the capture's pay_ id
    };
    Paid place_and_pay(const User& who, const json& price, int quantity, int stock) {
        Paid out{place(who, price, quantity, stock), {}, {}};
        out.payment = new_payment(who, out.placed.order_id);
        out.pay = pay_at_gateway(out.payment["gateway_order_id"]);
        EXPECT_EQ(fake.send("payment.captured", out.pay).status, 200);
        EXPECT_EQ(order_status(out.placed.order_id), "paid");
        return out;
    }

    std::string order_status(const std::string& order_id) {
        return db.scalar("SELECT status FROM orders WHERE id = '" + order_id + "'");
    }
    std::string payment_status(const std::string& payment_id) {
        return db.scalar("SELECT status FROM payments WHERE id = '" + payment_id + "'");
    }
    int64_t sales_of(const std::string& order_id) {
        return count(db, "SELECT count(*) FROM inventory_movements WHERE order_id = $1::uuid AND reason = 'sale'",
                     {order_id});
    }
    int64_t payments_of(const std::string& order_id) {
        return count(db, "SELECT count(*) FROM payments WHERE order_id = $1::uuid", {order_id});
    }
    // Refunds are made at the gateway by the payments.refund task after the
    // asking transaction commits: waits until no task is due (at most 10 s).
    void tasks_idle() {
        auto until = std::chrono::steady_clock::now() + 10s;
        while (count(db, "SELECT count(*) FROM oms_tasks WHERE state = 'pending'", {}) > 0) {
            if (std::chrono::steady_clock::now() > until) {
                ADD_FAILURE() << "tasks still pending after 10 s: "
                              << db.query("SELECT name, attempts, last_error FROM oms_tasks WHERE state = 'pending'",
                                          {});
                return;
            }
            std::this_thread::sleep_for(20ms);
        }
    }
    json refunds_in_db(const std::string& payment_id) {
        return db.query("SELECT amount, status, reason, automatic, idempotency_key, gateway_refund_id, "
                        "event_published_at FROM payment_refunds WHERE payment_id = $1::uuid ORDER BY created_at",
                        {payment_id});
    }
};

// ------------------------------------------------------------------ suite --

class Payments : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        shop_ = new Shop();
        alice_ = sign_up(shop_->port, "alice");
        bob_ = sign_up(shop_->port, "bob");
    }
    static void TearDownTestSuite() { delete shop_; }
    void SetUp() override {
        shop_->fake.set_down(false);
        shop_->fake.set_status_override(0);
        shop_->fake.set_latency(0ms);
    }

    static inline Shop* shop_ = nullptr;
    static inline User alice_, bob_;
};

TEST_F(Payments, RegisterOrderPayCaptureMarksTheOrderPaidAndCommitsItsStock) {
    Shop& s = *shop_;
    User carol = sign_up(s.port, "carol");  // register, then log in
    auto placed = s.place(carol, 249.5, 2, 10);
    ASSERT_EQ(placed.total, 49900);
    EXPECT_EQ(s.product(placed.product_id)["reserved"], 2);

    s.fake.clear_calls();
    auto r = s.start_payment(carol, placed.order_id);
    ASSERT_EQ(r.status, 201) << r;
    json p = r.json();
    EXPECT_TRUE(looks_like_uuid(p.value("id", ""))) << r;
    EXPECT_EQ(r.header("Location"), "/payments/" + p.value("id", ""));
    EXPECT_EQ(p["order_id"], placed.order_id);
    EXPECT_EQ(p["status"], "created");
    EXPECT_EQ(p["amount"], 499) << "major units";
    EXPECT_EQ(p["currency"], "INR");
    EXPECT_EQ(p["gateway"], "razorpay");
    EXPECT_EQ(p["key_id"], s.fake.options().key_id);
    std::string gid = p["gateway_order_id"];

    // The Razorpay order: paise, receipt = our order id, Basic auth.
    auto rzp = s.fake.order(gid);
    EXPECT_EQ(rzp["amount"], 49900);
    EXPECT_EQ(rzp["currency"], "INR");
    EXPECT_EQ(rzp["receipt"], placed.order_id);
    auto calls = s.fake.calls();
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].method, "POST");
    EXPECT_EQ(calls[0].path, "/v1/orders");
    EXPECT_EQ(calls[0].authorization,
              s.fake.basic_authorization());

    std::string pay = s.pay_at_gateway(gid);
    auto d = s.fake.send("payment.captured", pay);
    ASSERT_EQ(d.status, 200) << d.body;
    EXPECT_EQ(json::parse(d.body)["status"], "processed") << d.body;

    EXPECT_EQ(s.order_status(placed.order_id), "paid");
    auto stock = s.product(placed.product_id);
    EXPECT_EQ(stock["on_hand"], 8) << "committed: on_hand down";
    EXPECT_EQ(stock["reserved"], 0) << "committed: reserved down";

    auto got = get(s.port, "/payments/" + p["id"].get<std::string>(), carol.token);
    ASSERT_EQ(got.status, 200) << got;
    json g = got.json();
    EXPECT_EQ(g["status"], "captured");
    EXPECT_EQ(g["gateway_payment_id"], pay);
    EXPECT_EQ(g["amount_captured"], 499);
    EXPECT_EQ(g["amount_refunded"], 0);
    ASSERT_EQ(g["attempts"].size(), 1u) << g;
    EXPECT_EQ(g["attempts"][0]["accepted"], true);
    EXPECT_EQ(g["attempts"][0]["method"], "upi");

    // The order shows its payment (payments.for_order).
    auto order = get(s.port, "/orders/" + placed.order_id, carol.token).json();
    ASSERT_EQ(order["payments"].size(), 1u) << order;
    EXPECT_EQ(order["payments"][0]["id"], p["id"]);
    EXPECT_EQ(order["payments"][0]["status"], "captured");
    EXPECT_EQ(order["history"].back()["to"], "paid");
}

// Razorpay takes amounts of three-decimal currencies (KWD, BHD, OMR) only in
// multiples of 10 minor units: such a total is refused with a clear 400 before
// the gateway is asked, not a 502 at checkout (issue 13, item 5).
TEST_F(Payments, AThreeDecimalTotalTheGatewayCannotTakeIsA400) {
    Shop& s = *shop_;
    auto prod = post(s.port, "/inventory",
                     {{"sku", unique("kwd")}, {"name", "Dates"}, {"price", 1.235}, {"currency", "KWD"}, {"on_hand", 5}},
                     s.admin.token);
    ASSERT_EQ(prod.status, 201) << prod;
    auto order = post(s.port, "/orders",
                      {{"currency", "KWD"}, {"items", {{{"product_id", prod.json()["product_id"]}, {"quantity", 1}}}}},
                      alice_.token);
    ASSERT_EQ(order.status, 201) << order;
    std::string order_id = order.json()["id"];
    auto orders_created = [&] {
        auto calls = s.fake.calls();
        return std::count_if(calls.begin(), calls.end(),
                             [](const auto& c) { return c.method == "POST" && c.path == "/v1/orders"; });
    };
    auto before = orders_created();
    auto r = s.start_payment(alice_, order_id);
    expect_problem(r, 400, "amount_not_supported");
    EXPECT_EQ(orders_created(), before) << "the gateway was not asked";
    EXPECT_EQ(s.payments_of(order_id), 0);
}

TEST_F(Payments, TheOpenPaymentIsReturnedAgainNeverDuplicated) {
    Shop& s = *shop_;
    auto placed = s.place(alice_);
    json first = s.new_payment(alice_, placed.order_id);
    auto again = s.start_payment(alice_, placed.order_id);
    ASSERT_EQ(again.status, 200) << again;
    EXPECT_EQ(again.json()["id"], first["id"]);
    EXPECT_EQ(again.json()["gateway_order_id"], first["gateway_order_id"]);

    // Concurrent first requests for another order: one payment, one Razorpay order.
    auto other = s.place(alice_);
    size_t orders_before = s.fake.orders().size();
    std::vector<std::future<HttpResponse>> racers;
    for (int i = 0; i < 6; ++i)
        racers.push_back(std::async(std::launch::async, [&] { return s.start_payment(alice_, other.order_id); }));
    std::set<std::string> ids;
    int created = 0;
    for (auto& f : racers) {
        auto r = f.get();
        ASSERT_TRUE(r.status == 201 || r.status == 200) << r;
        created += r.status == 201;
        ids.insert(r.json().value("id", ""));
    }
    EXPECT_EQ(created, 1);
    EXPECT_EQ(ids.size(), 1u);
    EXPECT_EQ(s.payments_of(other.order_id), 1);
    EXPECT_EQ(s.fake.orders().size(), orders_before + 1);

    // Idempotency-Key: the same key replays the first answer.
    auto third = s.place(alice_);
    HeaderList key = {{"Idempotency-Key", unique("pay-key")}};
    auto k1 = s.start_payment(alice_, third.order_id, key);
    ASSERT_EQ(k1.status, 201) << k1;
    auto k2 = s.start_payment(alice_, third.order_id, key);
    EXPECT_EQ(k2.status, 201) << k2;
    EXPECT_EQ(k2.header("Idempotent-Replayed"), "true");
    EXPECT_EQ(k2.json()["id"], k1.json()["id"]);
}

TEST_F(Payments, OnlyTheOwnerPaysAndSeesAPayment) {
    Shop& s = *shop_;
    auto placed = s.place(alice_);
    expect_problem(s.start_payment(bob_, placed.order_id), 404, "not_found");
    expect_problem(s.start_payment(alice_, "6f1d8a56-1111-4111-8111-111111111111"), 404, "not_found");
    expect_validation(s.start_payment(alice_, "not-a-uuid"), {"order_id"}, "bad order_id");
    expect_validation(post(s.port, "/payments", json::object(), alice_.token), {"order_id"}, "no order_id");
    expect_problem(post(s.port, "/payments", {{"order_id", placed.order_id}}), 401, "unauthorized");

    json p = s.new_payment(alice_, placed.order_id);
    std::string path = "/payments/" + p["id"].get<std::string>();
    expect_problem(get(s.port, path, bob_.token), 404, "not_found");
    expect_problem(get(s.port, "/payments/nope", alice_.token), 404, "not_found");
    EXPECT_EQ(get(s.port, path, alice_.token).status, 200);
    EXPECT_EQ(get(s.port, path, s.admin.token).status, 200) << "admins see every payment";
    expect_problem(post(s.port, path + "/refund", json::object(), alice_.token), 403, "forbidden");

    // An order that is not pending cannot be paid.
    auto cancelled = s.place(alice_);
    ASSERT_EQ(post(s.port, "/orders/" + cancelled.order_id + "/cancel", json::object(), alice_.token).status, 200);
    expect_problem(s.start_payment(alice_, cancelled.order_id), 409, "order_not_payable");
    EXPECT_EQ(s.payments_of(cancelled.order_id), 0);
}

TEST_F(Payments, MissingOrWrongSignaturesAre400AndChangeNothing) {
    Shop& s = *shop_;
    auto placed = s.place(alice_);
    json p = s.new_payment(alice_, placed.order_id);
    std::string pay = s.pay_at_gateway(p["gateway_order_id"]);
    json event = s.fake.webhook_event("payment.captured", pay);
    std::string raw = event.dump();
    int64_t events_before = count(s.db, "SELECT count(*) FROM payment_webhook_events");

    struct Case {
        std::string what, body;
        std::optional<std::string> signature;
    };
    std::vector<Case> cases = {
        {"no signature", raw, std::nullopt},
        {"empty signature", raw, ""},
        {"garbage", raw, "not-a-signature"},
        {"another body's signature", raw, s.fake.webhook_signature(raw + " ")},
        {"upper-case hex of the right one", raw, [&] {
             std::string sig = s.fake.webhook_signature(raw);
             for (auto& c : sig) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
             return sig;
         }()},
        {"signed with the key secret", raw, payments::hmac_sha256_hex(s.fake.options().key_secret, raw)},
        // The same JSON re-serialised: HMAC is over bytes, so it must fail.
        {"re-serialised body", event.dump(2), s.fake.webhook_signature(raw)},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        auto d = s.fake.deliver_raw(c.body, c.signature);
        EXPECT_EQ(d.status, 400) << d.body;
        EXPECT_EQ(json::parse(d.body).value("code", ""), "invalid_signature") << d.body;
    }
    EXPECT_EQ(s.order_status(placed.order_id), "pending");
    EXPECT_EQ(s.payment_status(p["id"]), "created");
    EXPECT_EQ(count(s.db, "SELECT count(*) FROM payment_webhook_events"), events_before);
    EXPECT_EQ(count(s.db, "SELECT count(*) FROM payment_attempts WHERE gateway_payment_id = $1", {pay}), 0);
    EXPECT_EQ(s.product(placed.product_id)["reserved"], 2);

    // The right signature on the exact bytes.
    auto ok = s.fake.deliver_raw(raw, s.fake.webhook_signature(raw));
    EXPECT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(s.order_status(placed.order_id), "paid");
}

TEST_F(Payments, TheSameEventTwentyTimesHasOneEffect) {
    Shop& s = *shop_;
    auto placed = s.place(alice_, 10, 2, 10);
    json p = s.new_payment(alice_, placed.order_id);
    std::string pay = s.pay_at_gateway(p["gateway_order_id"]);
    json event = s.fake.webhook_event("payment.captured", pay);
    std::string event_id = "evt_" + std::to_string(getpid()) + "twenty";

    std::vector<WebhookDelivery> deliveries;
    for (int i = 0; i < 10; ++i) deliveries.push_back(s.fake.deliver(event, event_id));
    std::vector<std::future<WebhookDelivery>> concurrent;
    for (int i = 0; i < 10; ++i)
        concurrent.push_back(std::async(std::launch::async, [&] { return s.fake.deliver(event, event_id); }));
    for (auto& f : concurrent) deliveries.push_back(f.get());

    int processed = 0, duplicate = 0;
    for (auto& d : deliveries) {
        ASSERT_EQ(d.status, 200) << d.body;
        std::string status = json::parse(d.body).value("status", "");
        processed += status == "processed";
        duplicate += status == "duplicate";
    }
    EXPECT_EQ(processed, 1);
    EXPECT_EQ(duplicate, 19);
    EXPECT_EQ(count(s.db, "SELECT count(*) FROM payment_webhook_events WHERE event_id = $1", {event_id}), 1);

    EXPECT_EQ(s.order_status(placed.order_id), "paid");
    EXPECT_EQ(s.sales_of(placed.order_id), 1);
    EXPECT_EQ(s.product(placed.product_id)["on_hand"], 8) << "stock committed once";
    EXPECT_EQ(count(s.db, "SELECT count(*) FROM order_status_history WHERE order_id = $1::uuid AND to_status = 'paid'",
                    {placed.order_id}),
              1);

    // The same capture under other event ids (Razorpay's order.paid, a dashboard replay): no second effect.
    for (const char* e : {"payment.captured", "order.paid"}) {
        auto d = s.fake.send(e, pay);
        ASSERT_EQ(d.status, 200) << d.body;
        EXPECT_EQ(json::parse(d.body)["result"].get<std::string>().rfind("no change", 0), 0u) << d.body;
    }
    EXPECT_EQ(s.product(placed.product_id)["on_hand"], 8);
    EXPECT_EQ(s.fake.refunds_of(pay).size(), 0u);
}

TEST_F(Payments, EventsOutOfOrderReachTheSameEndState) {
    Shop& s = *shop_;
    {
        SCOPED_TRACE("captured before authorized");
        auto placed = s.place(alice_);
        json p = s.new_payment(alice_, placed.order_id);
        std::string pay = s.fake.authorize(p["gateway_order_id"]);
        json authorized = s.fake.webhook_event("payment.authorized", pay);  // the snapshot at that time
        s.fake.capture(pay);
        ASSERT_EQ(s.fake.send("payment.captured", pay).status, 200);
        auto late = s.fake.deliver(authorized);
        ASSERT_EQ(late.status, 200) << late.body;
        EXPECT_EQ(s.payment_status(p["id"]), "captured");
        EXPECT_EQ(s.db.scalar("SELECT status FROM payment_attempts WHERE gateway_payment_id = '" + pay + "'"),
                  "captured");
        EXPECT_EQ(s.order_status(placed.order_id), "paid");
        EXPECT_EQ(s.sales_of(placed.order_id), 1);
    }
    {
        SCOPED_TRACE("order.paid before payment.captured before payment.authorized");
        auto placed = s.place(alice_);
        json p = s.new_payment(alice_, placed.order_id);
        std::string pay = s.fake.authorize(p["gateway_order_id"]);
        json authorized = s.fake.webhook_event("payment.authorized", pay);
        s.fake.capture(pay);
        json captured = s.fake.webhook_event("payment.captured", pay);
        ASSERT_EQ(s.fake.send("order.paid", pay).status, 200);
        ASSERT_EQ(s.fake.deliver(captured).status, 200);
        ASSERT_EQ(s.fake.deliver(authorized).status, 200);
        EXPECT_EQ(s.payment_status(p["id"]), "captured");
        EXPECT_EQ(s.order_status(placed.order_id), "paid");
        EXPECT_EQ(s.sales_of(placed.order_id), 1) << "stock committed once";
        EXPECT_EQ(s.product(placed.product_id)["on_hand"], 8);
        EXPECT_EQ(s.fake.refunds_of(pay).size(), 0u);
    }
}

TEST_F(Payments, AFailedPaymentLeavesTheOrderPendingAndPayableAgain) {
    Shop& s = *shop_;
    auto placed = s.place(alice_);
    json p = s.new_payment(alice_, placed.order_id);
    std::string gid = p["gateway_order_id"];
    std::string failed = s.fake.fail(gid);
    auto d = s.fake.send("payment.failed", failed);
    ASSERT_EQ(d.status, 200) << d.body;
    EXPECT_EQ(s.order_status(placed.order_id), "pending");
    EXPECT_EQ(s.product(placed.product_id)["reserved"], 2) << "the stock stays reserved";
    auto shown = get(s.port, "/payments/" + p["id"].get<std::string>(), alice_.token).json();
    EXPECT_EQ(shown["status"], "failed");
    EXPECT_EQ(shown["error"]["code"], "BAD_REQUEST_ERROR") << shown;
    EXPECT_EQ(shown["error"]["reason"], "payment_failed") << shown;

    // Payable again: the same payment and Razorpay order (Razorpay takes
    // another attempt on it, and refuses a second success once paid).
    auto again = s.start_payment(alice_, placed.order_id);
    ASSERT_EQ(again.status, 200) << again;
    EXPECT_EQ(again.json()["id"], p["id"]);
    EXPECT_EQ(again.json()["gateway_order_id"], gid);

    std::string pay = s.pay_at_gateway(gid);
    ASSERT_EQ(s.fake.send("payment.captured", pay).status, 200);
    EXPECT_EQ(s.order_status(placed.order_id), "paid");
    shown = get(s.port, "/payments/" + p["id"].get<std::string>(), alice_.token).json();
    EXPECT_EQ(shown["status"], "captured");
    EXPECT_EQ(shown["error"], nullptr);
    ASSERT_EQ(shown["attempts"].size(), 2u) << shown;
    EXPECT_EQ(shown["attempts"][0]["status"], "failed");
    EXPECT_EQ(shown["attempts"][1]["status"], "captured");
    EXPECT_EQ(shown["gateway_payment_id"], pay);
    // A stale failure of the first attempt changes nothing now.
    ASSERT_EQ(s.fake.send("payment.failed", failed).status, 200);
    EXPECT_EQ(s.payment_status(p["id"]), "captured");
}

TEST_F(Payments, ALateAuthorisationAfterAFailureStillPays) {
    Shop& s = *shop_;
    auto placed = s.place(alice_);
    json p = s.new_payment(alice_, placed.order_id);
    std::string pay = s.fake.fail(p["gateway_order_id"]);
    ASSERT_EQ(s.fake.send("payment.failed", pay).status, 200);
    s.fake.fail_to_captured(pay);  // Razorpay's documented failed → captured
    ASSERT_EQ(s.fake.send("payment.captured", pay).status, 200);
    EXPECT_EQ(s.payment_status(p["id"]), "captured");
    EXPECT_EQ(s.order_status(placed.order_id), "paid");
}

TEST_F(Payments, GatewayDownOrFailingIs502AndWritesNoPayment) {
    Shop& s = *shop_;
    auto placed = s.place(alice_);

    s.fake.clear_calls();
    s.fake.set_down(true);
    auto down = s.start_payment(alice_, placed.order_id);
    expect_problem(down, 502, "gateway_unavailable");
    EXPECT_EQ(s.payments_of(placed.order_id), 0);
    auto calls = s.fake.calls();
    EXPECT_EQ(calls.size(), 1u) << "creating an order is never retried blindly";
    s.fake.set_down(false);

    s.fake.set_status_override(500);
    auto failing = s.start_payment(alice_, placed.order_id);
    expect_problem(failing, 502, "gateway_error");
    EXPECT_EQ(problem_field(failing, "gateway.code"), "SERVER_ERROR") << failing;
    EXPECT_NE(failing.json().value("detail", "").find("HTTP 500"), std::string::npos) << failing;
    EXPECT_EQ(s.payments_of(placed.order_id), 0);
    s.fake.set_status_override(401);
    auto refused = s.start_payment(alice_, placed.order_id);
    expect_problem(refused, 502, "gateway_error");
    EXPECT_EQ(problem_field(refused, "gateway.code"), "BAD_REQUEST_ERROR") << refused;
    s.fake.set_status_override(0);

    // Slower than RAZORPAY_TIMEOUT_MS (1 s here): given up on, not waited for.
    s.fake.set_latency(2500ms);
    auto start = Clock::now();
    auto slow = s.start_payment(alice_, placed.order_id);
    auto took = Clock::now() - start;
    s.fake.set_latency(0ms);
    expect_problem(slow, 502, "gateway_unavailable");
    EXPECT_LT(took, 2000ms);
    EXPECT_EQ(s.payments_of(placed.order_id), 0);

    // Back up: the order is paid normally.
    json p = s.new_payment(alice_, placed.order_id);
    EXPECT_EQ(s.payments_of(placed.order_id), 1);
    ASSERT_EQ(s.fake.send("payment.captured", s.pay_at_gateway(p["gateway_order_id"])).status, 200);
    EXPECT_EQ(s.order_status(placed.order_id), "paid");
}

TEST_F(Payments, AnAmountThatDiffersNeverPaysAndIsRefunded) {
    Shop& s = *shop_;
    auto placed = s.place(alice_, 20, 1, 10);
    json p = s.new_payment(alice_, placed.order_id);
    std::string pay = s.pay_at_gateway(p["gateway_order_id"]);
    // A snapshot whose amount is not the order's (Razorpay would never send
    // one; a gateway bug or a tampered replay signed with a leaked secret might).
    json event = s.fake.webhook_event("payment.captured", pay);
    event["payload"]["payment"]["entity"]["amount"] = placed.total - 500;
    auto d = s.fake.deliver(event);
    ASSERT_EQ(d.status, 200) << d.body;
    EXPECT_NE(d.body.find("amount mismatch"), std::string::npos) << d.body;

    EXPECT_EQ(s.order_status(placed.order_id), "pending");
    EXPECT_EQ(s.product(placed.product_id)["reserved"], 1);
    s.tasks_idle();
    auto at_gateway = s.fake.refunds_of(pay);
    ASSERT_EQ(at_gateway.size(), 1u);
    EXPECT_EQ(at_gateway[0]["amount"], placed.total - 500);
    auto rows = s.refunds_in_db(p["id"]);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0]["automatic"], "t");
    EXPECT_EQ(rows[0]["reason"], "amount mismatch");

    // The order can still be paid, with a new payment (the old Razorpay order is paid).
    auto again = s.start_payment(alice_, placed.order_id);
    ASSERT_EQ(again.status, 201) << again;
    EXPECT_NE(again.json()["id"], p["id"]);
}

// The webhook of a capture the order cannot accept records the refund and
// answers 200 at once; the refund is made by the payments.refund task, retried
// while Razorpay is down, with one key: one refund however many runs.
TEST_F(Payments, ACaptureForACancelledOrderIsRefundedOnceTheGatewayIsBack) {
    Shop& s = *shop_;
    auto placed = s.place(alice_);
    json p = s.new_payment(alice_, placed.order_id);
    std::string pay = s.fake.authorize(p["gateway_order_id"]);
    ASSERT_EQ(post(s.port, "/orders/" + placed.order_id + "/cancel", json::object(), alice_.token).status, 200);
    s.fake.capture(pay);  // the bank finishes after the customer cancelled
    json event = s.fake.webhook_event("payment.captured", pay);
    std::string event_id = "evt_" + std::to_string(getpid()) + "cancelled";

    s.fake.set_status_override(503);  // Razorpay's API is failing
    auto d = s.fake.deliver(event, event_id);
    ASSERT_EQ(d.status, 200) << d.body;
    EXPECT_NE(d.body.find("refunded automatically"), std::string::npos) << d.body;
    auto rows = s.refunds_in_db(p["id"]);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0]["status"], "requested");
    std::this_thread::sleep_for(500ms);  // a few runs of the task, each answered 503
    EXPECT_GE(count(s.db, "SELECT attempts FROM oms_tasks WHERE name = 'payments.refund' AND state = 'pending'", {}),
              2);
    s.fake.set_status_override(0);
    s.tasks_idle();

    EXPECT_EQ(s.order_status(placed.order_id), "cancelled");
    auto at_gateway = s.fake.refunds_of(pay);
    ASSERT_EQ(at_gateway.size(), 1u);
    EXPECT_EQ(at_gateway[0]["amount"], placed.total);
    rows = s.refunds_in_db(p["id"]);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0]["reason"], "order cancelled");
    EXPECT_EQ(rows[0]["automatic"], "t");
    EXPECT_EQ(rows[0]["status"], "pending");
    EXPECT_EQ(rows[0]["gateway_refund_id"], at_gateway[0]["id"]);
    EXPECT_EQ(s.product(placed.product_id)["on_hand"], 10) << "no stock left for a cancelled order";
    // A replay of the webhook asks for nothing more.
    ASSERT_EQ(s.fake.deliver(event, event_id).status, 200);
    s.tasks_idle();
    EXPECT_EQ(s.fake.refunds_of(pay).size(), 1u);
}

// Cancelling a paid order decides first and moves money after (issue 13,
// item 3): the cancel commits with the refund recorded as requested, and the
// payments.refund task makes it at Razorpay afterwards — retried while
// Razorpay fails, one refund in the end.
TEST_F(Payments, AnAdminCancellingAPaidOrderRefundsItAfterTheCancelCommitted) {
    Shop& s = *shop_;
    auto [placed, p, pay] = s.place_and_pay(alice_, 15, 2, 10);
    std::string cancel = "/orders/" + placed.order_id + "/cancel";

    // Razorpay failing does not hold the cancel back.
    s.fake.clear_calls();
    s.fake.set_status_override(500);
    auto r = post(s.port, cancel, {{"reason", "out of stock"}}, s.admin.token);
    ASSERT_EQ(r.status, 200) << r;
    EXPECT_EQ(s.order_status(placed.order_id), "cancelled");
    EXPECT_EQ(s.product(placed.product_id)["on_hand"], 10) << "restocked";
    auto order = r.json();
    ASSERT_EQ(order["payments"].size(), 1u) << order;
    ASSERT_EQ(order["payments"][0]["refunds"].size(), 1u) << order;
    EXPECT_EQ(order["payments"][0]["refunds"][0]["status"], "requested");
    EXPECT_EQ(order["payments"][0]["amount_refunded"], 30) << "asked for: not refundable twice";
    std::this_thread::sleep_for(400ms);
    EXPECT_TRUE(s.fake.refunds_of(pay).empty());
    s.fake.set_status_override(0);
    s.tasks_idle();

    auto at_gateway = s.fake.refunds_of(pay);
    ASSERT_EQ(at_gateway.size(), 1u);
    EXPECT_EQ(at_gateway[0]["amount"], placed.total);
    std::set<std::string> keys;
    for (auto& c : s.fake.calls())
        if (c.path == "/v1/payments/" + pay + "/refund") keys.insert(c.refund_idempotency);
    ASSERT_EQ(keys.size(), 1u) << "every run sent the same X-Refund-Idempotency";
    EXPECT_GE(keys.begin()->size(), 10u);
    auto rows = s.refunds_in_db(p["id"]);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0]["reason"], "out of stock");
    EXPECT_EQ(rows[0]["automatic"], "f");
    EXPECT_EQ(rows[0]["status"], "pending");
    // GET /orders/:id shows the refund under the payment.
    auto shown = get(s.port, "/orders/" + placed.order_id, s.admin.token).json();
    EXPECT_EQ(shown["payments"][0]["refunds"][0]["status"], "pending") << shown;

    std::string rfnd = at_gateway[0]["id"];
    s.fake.process_refund(rfnd);
    ASSERT_EQ(s.fake.send("refund.processed", rfnd).status, 200);
    EXPECT_EQ(s.payment_status(p["id"]), "refunded");
    EXPECT_EQ(s.order_status(placed.order_id), "cancelled");
}

// The defect of issue 13, item 3: the refund was made at Razorpay inside the
// cancel's transaction, which could still roll back after it (409
// order_changed, any later failure): money gone, order unchanged. Here the
// cancel fails after the refund was asked for (a trigger stands in for any
// late failure): nothing reaches Razorpay, ever.
TEST_F(Payments, ACancelRolledBackAfterAskingForTheRefundRefundsNothing) {
    Shop& s = *shop_;
    auto [placed, p, pay] = s.place_and_pay(alice_, 12, 1, 10);

    s.db.exec("CREATE FUNCTION test_refuse_cancel() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
              "RAISE EXCEPTION 'late failure' USING ERRCODE = '40001'; END $$");
    s.db.exec("CREATE TRIGGER test_refuse_cancel BEFORE UPDATE ON orders FOR EACH ROW "
              "WHEN (NEW.status = 'cancelled' AND NEW.id = '" + placed.order_id + "') "
              "EXECUTE FUNCTION test_refuse_cancel()");
    auto r = post(s.port, "/orders/" + placed.order_id + "/cancel", {{"reason", "changed my mind"}}, s.admin.token);
    s.db.exec("DROP TRIGGER test_refuse_cancel ON orders");
    s.db.exec("DROP FUNCTION test_refuse_cancel()");
    EXPECT_EQ(r.status, 503) << r;  // a serialization failure: retry
    EXPECT_EQ(s.order_status(placed.order_id), "paid");
    EXPECT_TRUE(s.refunds_in_db(p["id"]).empty());
    EXPECT_EQ(count(s.db, "SELECT count(*) FROM oms_tasks WHERE payload->>'refund_id' IS NOT NULL "
                          "AND payload->>'refund_id' NOT IN (SELECT id::text FROM payment_refunds)", {}),
              0)
        << "no task outlives the transaction that stored it";
    std::this_thread::sleep_for(300ms);  // three polls of the task threads
    EXPECT_TRUE(s.fake.refunds_of(pay).empty()) << "no money moved for a cancel that did not happen";

    // The retry cancels and refunds, once.
    auto again = post(s.port, "/orders/" + placed.order_id + "/cancel", {{"reason", "changed my mind"}}, s.admin.token);
    ASSERT_EQ(again.status, 200) << again;
    s.tasks_idle();
    EXPECT_EQ(s.fake.refunds_of(pay).size(), 1u);
}

// An admin's partial refund resubmitted with its Idempotency-Key (the first
// answer was lost to a timeout) refunds once: the host replays the answer, and
// the gateway key comes from the request, not from a count (issue 13, item 4).
TEST_F(Payments, AResubmittedRefundWithItsIdempotencyKeyRefundsOnce) {
    Shop& s = *shop_;
    auto [placed, p, pay] = s.place_and_pay(alice_, 20, 1, 10);  // 20.00 INR
    std::string id = p["id"];
    std::string refund = "/payments/" + id + "/refund";
    json body = {{"amount", 5}, {"reason", "one item damaged"}};
    auto first = post(s.port, refund, body, s.admin.token, {{"Idempotency-Key", "refund-once-1"}});
    ASSERT_EQ(first.status, 201) << first;
    auto again = post(s.port, refund, body, s.admin.token, {{"Idempotency-Key", "refund-once-1"}});
    EXPECT_EQ(again.status, 201) << again;
    EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
    EXPECT_EQ(again.json()["id"], first.json()["id"]);
    s.tasks_idle();
    EXPECT_EQ(s.fake.refunds_of(pay).size(), 1u) << "one refund at the gateway";
    EXPECT_EQ(s.refunds_in_db(id).size(), 1u);
    // Another key is another refund, with its own gateway key.
    auto second = post(s.port, refund, body, s.admin.token, {{"Idempotency-Key", "refund-once-2"}});
    ASSERT_EQ(second.status, 201) << second;
    s.tasks_idle();
    EXPECT_EQ(s.fake.refunds_of(pay).size(), 2u);
}

TEST_F(Payments, PartialThenFullRefundThroughTheRouteAndRefundProcessed) {
    Shop& s = *shop_;
    auto [placed, p, pay] = s.place_and_pay(alice_, 20, 1, 10);  // 20.00 INR
    std::string id = p["id"];
    std::string refund = "/payments/" + id + "/refund";

    s.fake.clear_calls();
    auto first = post(s.port, refund, {{"amount", 5.5}, {"reason", "one item damaged"}}, s.admin.token);
    ASSERT_EQ(first.status, 201) << first;
    EXPECT_EQ(first.json()["amount"], 5.5);
    EXPECT_EQ(first.json()["status"], "requested") << "made at the gateway once the request committed";
    EXPECT_EQ(first.json()["reason"], "one item damaged");
    EXPECT_EQ(first.json()["automatic"], false);

    auto over = post(s.port, refund, {{"amount", 15}}, s.admin.token);
    expect_problem(over, 409, "refund_exceeds_captured");
    expect_validation(post(s.port, refund, {{"amount", 0}}, s.admin.token), {"amount"}, "zero");
    expect_validation(post(s.port, refund, {{"amount", 1.001}}, s.admin.token), {"amount"}, "three decimals");
    expect_validation(post(s.port, refund, {{"amount", "5"}}, s.admin.token), {"amount"}, "a string");

    auto rest = post(s.port, refund, json::object(), s.admin.token);  // default: everything left
    ASSERT_EQ(rest.status, 201) << rest;
    EXPECT_EQ(rest.json()["amount"], 14.5);
    expect_problem(post(s.port, refund, json::object(), s.admin.token), 409, "nothing_to_refund");

    auto shown = get(s.port, "/payments/" + id, alice_.token).json();
    EXPECT_EQ(shown["amount_refunded"], 20);
    EXPECT_EQ(shown["refund_status"], "full");
    EXPECT_EQ(shown["status"], "captured") << "refunds are pending until the gateway processes them";
    s.tasks_idle();
    auto at_gateway = s.fake.refunds_of(pay);
    ASSERT_EQ(at_gateway.size(), 2u);
    EXPECT_EQ(at_gateway[0]["amount"], 550);
    EXPECT_EQ(at_gateway[1]["amount"], 1450);
    std::set<std::string> keys;
    for (auto& c : s.fake.calls())
        if (c.path.find("/refund") != std::string::npos) keys.insert(c.refund_idempotency);
    EXPECT_EQ(keys.size(), 2u) << "each refund has its own X-Refund-Idempotency";

    // refund.processed, one by one: partial leaves the order paid, the last one refunds it.
    s.fake.process_refund(at_gateway[0]["id"]);
    ASSERT_EQ(s.fake.send("refund.processed", at_gateway[0]["id"]).status, 200);
    EXPECT_EQ(s.payment_status(id), "captured");
    EXPECT_EQ(s.order_status(placed.order_id), "paid");
    s.fake.process_refund(at_gateway[1]["id"]);
    auto d = s.fake.send("refund.processed", at_gateway[1]["id"]);
    ASSERT_EQ(d.status, 200) << d.body;
    EXPECT_EQ(s.payment_status(id), "refunded");
    auto rows = s.refunds_in_db(id);
    ASSERT_EQ(rows.size(), 2u);
    for (auto& row : rows) {
        EXPECT_EQ(row["status"], "processed");
        EXPECT_FALSE(row["event_published_at"].is_null()) << "payment.refunded published for it";
    }
    // The orders plugin's payment.refunded subscriber: a full refund of a paid order.
    EXPECT_EQ(s.order_status(placed.order_id), "refunded");

    // A replay under a new event id changes nothing.
    auto replay = s.fake.send("refund.processed", at_gateway[1]["id"]);
    ASSERT_EQ(replay.status, 200);
    EXPECT_EQ(json::parse(replay.body)["result"].get<std::string>().rfind("no change", 0), 0u) << replay.body;
}

TEST_F(Payments, RefundFailedMakesTheAmountRefundableAgain) {
    Shop& s = *shop_;
    auto [placed, p, pay] = s.place_and_pay(alice_, 10, 1, 10);
    std::string id = p["id"];
    auto r = post(s.port, "/payments/" + id + "/refund", json::object(), s.admin.token);
    ASSERT_EQ(r.status, 201) << r;
    s.tasks_idle();
    std::string rfnd = s.fake.refunds_of(pay).at(0)["id"];
    s.fake.fail_refund(rfnd);
    ASSERT_EQ(s.fake.send("refund.failed", rfnd).status, 200);
    EXPECT_EQ(s.db.scalar("SELECT status FROM payment_refunds WHERE gateway_refund_id = '" + rfnd + "'"), "failed");
    auto again = post(s.port, "/payments/" + id + "/refund", json::object(), s.admin.token);
    ASSERT_EQ(again.status, 201) << again;
    s.tasks_idle();
    EXPECT_EQ(s.fake.refunds_of(pay).size(), 2u) << "a new refund, not the failed one replayed";
}

TEST_F(Payments, CheckoutVerificationCapturesAnAuthorisedPayment) {
    Shop& s = *shop_;
    auto placed = s.place(alice_);
    json p = s.new_payment(alice_, placed.order_id);
    std::string gid = p["gateway_order_id"];
    std::string pay = s.fake.authorize(gid);
    auto verify = [&](const User& who, const std::string& order_id, const std::string& sig) {
        return post(s.port, "/payments/verify",
                    {{"razorpay_order_id", order_id}, {"razorpay_payment_id", pay}, {"razorpay_signature", sig}},
                    who.token);
    };
    std::string good = s.fake.checkout_signature(gid, pay);

    expect_problem(verify(alice_, gid, std::string(64, '0')), 400, "invalid_signature");
    auto other = s.new_payment(alice_, s.place(alice_).order_id);
    expect_problem(verify(alice_, other["gateway_order_id"], good), 400, "invalid_signature");
    expect_problem(verify(alice_, other["gateway_order_id"],
                          s.fake.checkout_signature(other["gateway_order_id"], pay)),
                   400, "payment_order_mismatch");
    expect_problem(verify(bob_, gid, good), 404, "not_found");
    expect_validation(post(s.port, "/payments/verify", json::object(), alice_.token),
                      {"razorpay_order_id", "razorpay_payment_id", "razorpay_signature"}, "empty body");
    EXPECT_EQ(s.fake.payment(pay)["status"], "authorized");
    EXPECT_EQ(s.order_status(placed.order_id), "pending");

    s.fake.clear_calls();
    auto ok = verify(alice_, gid, good);
    ASSERT_EQ(ok.status, 200) << ok;
    EXPECT_EQ(ok.json()["status"], "captured");
    EXPECT_EQ(s.fake.payment(pay)["status"], "captured") << "captured through the API";
    EXPECT_EQ(s.order_status(placed.order_id), "paid");
    int captures = 0;
    for (auto& c : s.fake.calls()) captures += c.path == "/v1/payments/" + pay + "/capture";
    EXPECT_EQ(captures, 1);

    // The webhook, and the browser verifying twice, change nothing more.
    ASSERT_EQ(s.fake.send("payment.captured", pay).status, 200);
    ASSERT_EQ(verify(alice_, gid, good).status, 200);
    EXPECT_EQ(s.sales_of(placed.order_id), 1);
    EXPECT_EQ(s.fake.refunds_of(pay).size(), 0u);
}

TEST_F(Payments, SignaturesAgreeWithOpensslAndTheFake) {
    Shop& s = *shop_;
    auto placed = s.place(alice_);
    json p = s.new_payment(alice_, placed.order_id);
    std::string gid = p["gateway_order_id"], pay = s.pay_at_gateway(gid);
    const std::string& webhook_secret = s.fake.options().webhook_secret;
    const std::string& key_secret = s.fake.options().key_secret;

    // A real delivery: what the fake signed, openssl, and the plugin's code agree; the host accepted it.
    auto d = s.fake.send("payment.captured", pay);
    ASSERT_EQ(d.status, 200) << d.body;
    std::string by_openssl = openssl_hmac(webhook_secret, d.raw);
    EXPECT_EQ(by_openssl, s.fake.webhook_signature(d.raw));
    EXPECT_EQ(by_openssl, payments::hmac_sha256_hex(webhook_secret, d.raw));
    EXPECT_TRUE(payments::webhook_signature_valid(webhook_secret, d.raw, by_openssl));
    std::string tampered = d.raw;
    tampered[tampered.size() / 2] ^= 1;
    EXPECT_FALSE(payments::webhook_signature_valid(webhook_secret, tampered, by_openssl));
    EXPECT_FALSE(payments::webhook_signature_valid("", d.raw, payments::hmac_sha256_hex("", d.raw)));

    // Checkout: HMAC(key_secret, order_id|payment_id).
    std::string checkout = openssl_hmac(key_secret, gid + "|" + pay);
    EXPECT_EQ(checkout, s.fake.checkout_signature(gid, pay));
    EXPECT_TRUE(payments::checkout_signature_valid(key_secret, gid, pay, checkout));
    EXPECT_FALSE(payments::checkout_signature_valid(key_secret, pay, gid, checkout));

    // Bytes nobody re-serialised (spacing, key order, non-ASCII), signed by
    // openssl alone, are accepted by the host as they are.
    std::string raw = "{ \"event\" : \"payment.dispute.created\",\"entity\":\"event\", \"note\": \"₹ 100 — ok\" }";
    auto accepted = s.fake.deliver_raw(raw, openssl_hmac(webhook_secret, raw));
    ASSERT_EQ(accepted.status, 200) << accepted.body;
    EXPECT_EQ(json::parse(accepted.body)["result"], "ignored") << "unknown events are acknowledged";
    EXPECT_EQ(count(s.db, "SELECT count(*) FROM payment_webhook_events WHERE event_id = $1", {accepted.event_id}), 1);
}

TEST_F(Payments, WebhooksForUnknownThingsAreAcknowledged) {
    Shop& s = *shop_;
    json event = {{"entity", "event"},
                  {"event", "payment.captured"},
                  {"payload",
                   {{"payment",
                     {{"entity",
                       {{"id", "pay_Unknown0000001"}, {"order_id", "order_Unknown000001"}, {"amount", 1000},
                        {"currency", "INR"}, {"status", "captured"}, {"captured", true}}}}}}}};
    auto d = s.fake.deliver(event);
    ASSERT_EQ(d.status, 200) << d.body;
    EXPECT_NE(d.body.find("unknown order"), std::string::npos) << d.body;
    auto garbage = s.fake.deliver_raw("[1,2", s.fake.webhook_signature("[1,2"));
    EXPECT_EQ(garbage.status, 400) << garbage.body;
}

TEST_F(Payments, LookupsUseIndexes) {
    Shop& s = *shop_;
    s.db.exec("INSERT INTO payments (order_id, customer_id, status, amount, currency, gateway_order_id) "
              "SELECT gen_random_uuid(), gen_random_uuid(), 'failed', 100, 'INR', 'order_bulk' || i "
              "FROM generate_series(1, 3000) AS i; ANALYZE payments; ANALYZE payment_attempts; "
              "ANALYZE payment_refunds");
    struct Case {
        std::string sql, index;
    };
    std::vector<Case> cases = {
        {"SELECT * FROM payments WHERE gateway_order_id = 'order_bulk7'", "payments_gateway_order_id_key"},
        {"SELECT * FROM payments WHERE order_id = '6f1d8a56-2222-4222-8222-222222222222' AND status IN ('created', 'authorized', "
         "'failed')",
         "payments_one_open_per_order"},
        {"SELECT * FROM payments WHERE order_id = '6f1d8a56-2222-4222-8222-222222222222' ORDER BY created_at, id", "payments_by_order"},
    };
    s.db.exec("SET enable_seqscan = off");  // tiny tables: ask whether an index CAN serve the lookup
    for (auto& c : cases) {
        SCOPED_TRACE(c.sql);
        auto plan = s.db.query("EXPLAIN " + c.sql).dump();
        EXPECT_NE(plan.find(c.index), std::string::npos) << plan;
    }
    for (std::string sql : {"SELECT * FROM payment_attempts WHERE payment_id = '6f1d8a56-2222-4222-8222-222222222222' ORDER BY created_at",
                            "SELECT * FROM payment_refunds WHERE gateway_refund_id = 'rfnd_x'",
                            "SELECT * FROM payment_refunds WHERE gateway_payment_id = 'pay_x'"}) {
        SCOPED_TRACE(sql);
        auto plan = s.db.query("EXPLAIN " + sql).dump();
        EXPECT_EQ(plan.find("Seq Scan"), std::string::npos) << plan;
    }
    s.db.exec("RESET enable_seqscan; DELETE FROM payments WHERE gateway_order_id LIKE 'order_bulk%'");
}

// ------------------------------------------------- hosts of their own --

// A stand-in for api.razorpay.com over real TLS (Poco's server side): it
// answers POST /v1/orders with an order, so a 201 from POST /payments proves
// the plugin's HTTPS client did the handshake, verified the certificate and
// spoke HTTP over it.
class TlsGateway {
public:
    TlsGateway(const std::string& cert, const std::string& key)
        : context_(new Poco::Net::Context(Poco::Net::Context::SERVER_USE, key, cert, "",
                                          Poco::Net::Context::VERIFY_NONE)),
          socket_(Poco::Net::SocketAddress("127.0.0.1", 0), 16, context_),
          server_(new Factory(*this), pool_, socket_, new Poco::Net::HTTPServerParams) {
        server_.start();
    }
    ~TlsGateway() { server_.stopAll(true); }
    int port() const { return socket_.address().port(); }
    int orders() const { return orders_; }
    std::string authorization() const {
        std::lock_guard lock(mu_);
        return authorization_;
    }

private:
    struct Handler : Poco::Net::HTTPRequestHandler {
        explicit Handler(TlsGateway& g) : gw(g) {}
        void handleRequest(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) override {
            std::string body;
            Poco::StreamCopier::copyToString(req.stream(), body);
            auto in = json::parse(body, nullptr, false);
            json out = {{"error", {{"code", "BAD_REQUEST_ERROR"}, {"description", "not served here"}}}};
            resp.setStatus(Poco::Net::HTTPResponse::HTTP_BAD_REQUEST);
            if (req.getMethod() == "POST" && req.getURI() == "/v1/orders" && in.is_object()) {
                {
                    std::lock_guard lock(gw.mu_);
                    gw.authorization_ = req.get("Authorization", "");
                }
                out = {{"id", "order_TlsGateway" + std::to_string(1000 + ++gw.orders_)},
                       {"entity", "order"},
                       {"amount", in.value("amount", 0)},
                       {"currency", in.value("currency", "")},
                       {"receipt", in.value("receipt", "")},
                       {"status", "created"}};
                resp.setStatus(Poco::Net::HTTPResponse::HTTP_OK);
            }
            std::string text = out.dump();
            resp.setContentType("application/json");
            resp.setContentLength(static_cast<std::streamsize>(text.size()));
            resp.send() << text;
        }
        TlsGateway& gw;
    };
    struct Factory : Poco::Net::HTTPRequestHandlerFactory {
        explicit Factory(TlsGateway& g) : gw(g) {}
        Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
            return new Handler(gw);
        }
        TlsGateway& gw;
    };

    mutable std::mutex mu_;
    std::string authorization_;
    std::atomic<int> orders_{0};
    Poco::ThreadPool pool_{1, 4};
    Poco::Net::Context::Ptr context_;
    Poco::Net::SecureServerSocket socket_;
    Poco::Net::HTTPServer server_;
};

// A throwaway CA and server certificates for `names` (each: CN and subjectAltName), made by the openssl CLI.
class TestPki {
public:
    explicit TestPki(const std::vector<std::pair<std::string, std::string>>& names) {
        char tmpl[] = "/tmp/oms-pki-XXXXXX";
        if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
        dir_ = tmpl;
        const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        run("openssl req -x509 " + ec + " -keyout ca.key -out ca.pem -days 2 -subj /CN=OMS-Test-CA");
        for (auto& [name, san] : names) {
            std::ofstream(dir_ + "/" + name + ".ext") << "subjectAltName=" << san << "\n";
            run("openssl req " + ec + " -keyout " + name + ".key -out " + name + ".csr -subj /CN=" + name);
            run("openssl x509 -req -in " + name + ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -out " + name +
                ".pem -days 2 -extfile " + name + ".ext");
        }
    }
    ~TestPki() {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    std::string path(const std::string& file) const { return dir_ + "/" + file; }

private:
    void run(const std::string& cmd) {
        if (std::system(("cd " + dir_ + " && " + cmd + " >/dev/null 2>&1").c_str()) != 0)
            throw std::runtime_error("failed: " + cmd);
    }
    std::string dir_;
};

TEST(PaymentsTls, TheGatewayClientSpeaksVerifiedTls) {
    TestPki pki({{"localhost", "DNS:localhost,IP:127.0.0.1"}, {"gateway.test", "DNS:gateway.test"}});
    TlsGateway good(pki.path("localhost.pem"), pki.path("localhost.key"));
    TlsGateway misnamed(pki.path("gateway.test.pem"), pki.path("gateway.test.key"));
    auto base = [](const std::string& host, int port) { return "https://" + host + ":" + std::to_string(port) + "/v1"; };

    // Trusting the test CA: the whole call goes through.
    Shop s({{"RAZORPAY_API_BASE", base("localhost", good.port())}, {"RAZORPAY_CA_FILE", pki.path("ca.pem")}});
    User fay = sign_up(s.port, "fay");
    auto placed = s.place(fay);
    auto created = s.start_payment(fay, placed.order_id);
    ASSERT_EQ(created.status, 201) << created;
    EXPECT_EQ(created.json()["gateway_order_id"], "order_TlsGateway1001");
    EXPECT_EQ(good.orders(), 1);

    // Other hosts on the same database, with another trust or another gateway name.
    auto unpaid = s.place(fay);
    auto elsewhere = [&](std::map<std::string, std::string> extra) {
        auto env = s.env;
        for (auto& [k, v] : extra) env[k] = v;
        return start_host(s.db, env);
    };
    {
        SCOPED_TRACE("the system's CAs do not know the test CA");
        auto host = elsewhere({{"RAZORPAY_CA_FILE", ""}});
        ASSERT_NE(host, nullptr);
        auto refused = post(host->port(), "/payments", {{"order_id", unpaid.order_id}}, fay.token);
        expect_problem(refused, 502, "gateway_unavailable");
        EXPECT_NE(refused.json().value("detail", "").find("certificate verify failed"), std::string::npos) << refused;
    }
    {
        SCOPED_TRACE("a trusted certificate for another name, even on loopback (VERIFY_STRICT)");
        auto host = elsewhere({{"RAZORPAY_API_BASE", base("127.0.0.1", misnamed.port())}});
        ASSERT_NE(host, nullptr);
        auto refused = post(host->port(), "/payments", {{"order_id", unpaid.order_id}}, fay.token);
        expect_problem(refused, 502, "gateway_unavailable");
        EXPECT_EQ(misnamed.orders(), 0);
    }
    EXPECT_EQ(s.payments_of(unpaid.order_id), 0);
    EXPECT_EQ(good.orders(), 1);
    EXPECT_EQ(good.authorization(),
            s.fake.basic_authorization());
}

// A hanging Razorpay takes at most RAZORPAY_MAX_CONCURRENT + RAZORPAY_MAX_WAITING
// of the host's workers (a quarter of OMS_WORKERS each by default); checkouts
// beyond are 503 busy at once, and every other route keeps answering (issue
// 13, item 2). Before, all eight workers waited on Razorpay and GET
// /orders/:id and /health waited with them.
TEST(PaymentsBrownout, AHangingGatewayLeavesTheOtherRoutesAnswering) {
    Shop s({{"RAZORPAY_TIMEOUT_MS", "5000"}, {"OMS_WORKERS", "8"}});
    User carl = sign_up(s.port, "carl");
    std::vector<Shop::Placed> orders;
    for (int i = 0; i < 10; ++i) orders.push_back(s.place(carl, 5, 1, 10));

    s.fake.set_latency(3000ms);
    std::vector<std::future<HttpResponse>> checkouts;
    for (auto& o : orders)
        checkouts.push_back(std::async(std::launch::async, [&] { return s.start_payment(carl, o.order_id); }));
    std::this_thread::sleep_for(300ms);  // every checkout has reached a worker

    auto t0 = std::chrono::steady_clock::now();
    auto order = get(s.port, "/orders/" + orders[0].order_id, carl.token);
    auto order_took = std::chrono::steady_clock::now() - t0;
    t0 = std::chrono::steady_clock::now();
    auto health = get(s.port, "/health", "");
    auto health_took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(order.status, 200) << order;
    EXPECT_EQ(health.status, 200) << health;
    EXPECT_LT(order_took, 1000ms) << "GET /orders/:id waited on Razorpay";
    EXPECT_LT(health_took, 1000ms) << "/health waited on Razorpay";

    int created = 0, busy = 0;
    for (auto& c : checkouts) {
        auto r = c.get();
        if (r.status == 201) ++created;
        else if (r.status == 503 && r.json().value("code", "") == "busy") {
            ++busy;
            EXPECT_EQ(r.header("Retry-After"), "1") << r;
        } else ADD_FAILURE() << r;
    }
    s.fake.set_latency(0ms);
    std::printf("[ payments ] 10 checkouts against a 3 s Razorpay: %d made, %d refused busy; "
                "GET /orders/:id %lld ms, /health %lld ms meanwhile\n",
                created, busy, (long long)std::chrono::duration_cast<std::chrono::milliseconds>(order_took).count(),
                (long long)std::chrono::duration_cast<std::chrono::milliseconds>(health_took).count());
    // 2 run; 2 wait 1 s for a place that frees only after 3 s, then are refused; 6 are refused at once.
    EXPECT_EQ(created, 2);
    EXPECT_EQ(busy, 8);
    // Refused checkouts left nothing behind: paying again works.
    auto again = s.start_payment(carl, orders.back().order_id);
    EXPECT_TRUE(again.status == 201 || again.status == 200) << again;
}

TEST(PaymentsExpiry, ACaptureAfterTheOrderExpiredIsRefundedAutomatically) {
    Shop s({{"OMS_RESERVATION_TTL", "1"}, {"OMS_RESERVATION_SWEEP_MS", "100"}});
    User dan = sign_up(s.port, "dan");
    auto placed = s.place(dan, 30, 2, 10);
    json p = s.new_payment(dan, placed.order_id);
    ASSERT_TRUE(wait_until([&] { return s.order_status(placed.order_id) == "expired"; }, 5s))
        << s.order_status(placed.order_id);

    std::string pay = s.pay_at_gateway(p["gateway_order_id"]);
    auto d = s.fake.send("payment.captured", pay);
    ASSERT_EQ(d.status, 200) << d.body;
    EXPECT_NE(d.body.find("order expired"), std::string::npos) << d.body;

    EXPECT_EQ(s.order_status(placed.order_id), "expired");
    auto stock = s.product(placed.product_id);
    EXPECT_EQ(stock["on_hand"], 10) << "nothing sold";
    EXPECT_EQ(stock["reserved"], 0);
    s.tasks_idle();
    auto at_gateway = s.fake.refunds_of(pay);
    ASSERT_EQ(at_gateway.size(), 1u);
    EXPECT_EQ(at_gateway[0]["amount"], placed.total);
    auto rows = s.refunds_in_db(p["id"]);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0]["reason"], "order expired");
    EXPECT_EQ(rows[0]["automatic"], "t");
    auto shown = get(s.port, "/payments/" + p["id"].get<std::string>(), dan.token).json();
    EXPECT_EQ(shown["attempts"][0]["accepted"], false);
    EXPECT_EQ(shown["attempts"][0]["outcome"], "order expired");

    // Processed: the payment is refunded; no payment.refunded (it never paid the order).
    s.fake.process_refund(at_gateway[0]["id"]);
    ASSERT_EQ(s.fake.send("refund.processed", at_gateway[0]["id"]).status, 200);
    EXPECT_EQ(s.payment_status(p["id"]), "refunded");
    EXPECT_TRUE(s.refunds_in_db(p["id"])[0]["event_published_at"].is_null());
    EXPECT_EQ(s.order_status(placed.order_id), "expired");
}

TEST(PaymentsSimulated, WithoutKeysADeveloperWalksTheWholeFlow) {
    Shop s({}, /*with_keys=*/false);
    // A loud warning once serving (and hourly), never on a CLI command's stdout.
    EXPECT_TRUE(wait_until([&] { return s.host->log().find("SIMULATED gateway") != std::string::npos; }, 3s))
        << s.host->log();
    User erin = sign_up(s.port, "erin");
    auto placed = s.place(erin, 12.25, 2, 10);

    auto created = s.start_payment(erin, placed.order_id);
    ASSERT_EQ(created.status, 201) << created;
    json p = created.json();
    EXPECT_EQ(p["simulated"], true);
    EXPECT_EQ(p["key_id"], "rzp_simulated");
    EXPECT_EQ(p["gateway_order_id"].get<std::string>().rfind("order_", 0), 0u);
    std::string simulate = "/payments/" + p["id"].get<std::string>() + "/simulate";

    expect_validation(post(s.port, simulate, {{"outcome", "stolen"}}, erin.token), {"outcome"}, "bad outcome");
    auto failed = post(s.port, simulate, {{"outcome", "failed"}}, erin.token);
    ASSERT_EQ(failed.status, 200) << failed;
    EXPECT_EQ(failed.json()["status"], "failed");
    EXPECT_EQ(s.order_status(placed.order_id), "pending");

    auto captured = post(s.port, simulate, {{"outcome", "captured"}}, erin.token);
    ASSERT_EQ(captured.status, 200) << captured;
    EXPECT_EQ(captured.json()["status"], "captured");
    EXPECT_EQ(s.order_status(placed.order_id), "paid");
    EXPECT_EQ(s.product(placed.product_id)["on_hand"], 8);
    EXPECT_EQ(s.product(placed.product_id)["reserved"], 0);

    // Refunds are processed at once by the simulated gateway (when the task makes them).
    auto refund = post(s.port, "/payments/" + p["id"].get<std::string>() + "/refund", json::object(), s.admin.token);
    ASSERT_EQ(refund.status, 201) << refund;
    EXPECT_EQ(refund.json()["status"], "requested");
    s.tasks_idle();
    EXPECT_EQ(s.db.scalar("SELECT status FROM payment_refunds WHERE id = '" + refund.json()["id"].get<std::string>() +
                          "'"),
              "processed");
    EXPECT_EQ(s.payment_status(p["id"]), "refunded");
    EXPECT_EQ(s.order_status(placed.order_id), "refunded");

    expect_problem(post(s.port, "/payments/verify",
                        {{"razorpay_order_id", p["gateway_order_id"]}, {"razorpay_payment_id", "pay_x"},
                         {"razorpay_signature", "x"}},
                        erin.token),
                   409, "simulated_gateway");
    auto hook = http_request(s.port, "POST", "/payments/webhook", "{\"event\":\"payment.captured\"}",
                             {{"Content-Type", "application/json"}, {"X-Razorpay-Signature", "00"}});
    expect_problem(hook, 400, "invalid_signature");
}

TEST(PaymentsSettings, BadSettingsStopStartUpWithOneLine) {
    TestDatabase db;
    std::map<std::string, std::string> base = {{"OMS_PLUGIN_DIR", plugin_dir().path()}};
    auto routes = [&](std::map<std::string, std::string> extra) {
        auto env = base;
        for (auto& [k, v] : extra) env[k] = v;
        return HostProcess::run({"routes"}, host_env(db, env), 30s);
    };
    struct Case {
        std::map<std::string, std::string> env;
        std::string says;
    };
    std::map<std::string, std::string> keys = {{"RAZORPAY_KEY_ID", "rzp_test_x"},
                                               {"RAZORPAY_KEY_SECRET", "secret"},
                                               {"RAZORPAY_WEBHOOK_SECRET", "whsecret"}};
    auto with = [&](std::map<std::string, std::string> e) {
        auto out = keys;
        for (auto& [k, v] : e) out[k] = v;
        return out;
    };
    std::vector<Case> cases = {
        {{{"OMS_ENV", "production"}}, "RAZORPAY_KEY_ID is required when OMS_ENV=production"},
        {{{"RAZORPAY_KEY_ID", "rzp_test_x"}}, "RAZORPAY_KEY_SECRET is required"},
        {{{"RAZORPAY_KEY_ID", "rzp_test_x"}, {"RAZORPAY_KEY_SECRET", "s"}}, "RAZORPAY_WEBHOOK_SECRET is required"},
        {with({{"RAZORPAY_API_BASE", "http://api.razorpay.com/v1"}}), "RAZORPAY_API_BASE"},
        {with({{"RAZORPAY_API_BASE", "ftp://127.0.0.1/v1"}}), "RAZORPAY_API_BASE"},
        {with({{"RAZORPAY_TIMEOUT_MS", "soon"}}), "RAZORPAY_TIMEOUT_MS"},
        {with({{"RAZORPAY_TIMEOUT_MS", "0"}}), "RAZORPAY_TIMEOUT_MS"},
        {with({{"RAZORPAY_CA_FILE", "/nonexistent/ca.pem"}}), "RAZORPAY_CA_FILE"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.says);
        auto r = routes(c.env);
        EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
        std::string all = r.out + r.err;
        EXPECT_NE(all.find(c.says), std::string::npos) << all;
        EXPECT_EQ(all.find("terminate called"), std::string::npos) << all;
    }

    // The simulator's route exists only without keys.
    auto simulated = routes({});
    ASSERT_EQ(simulated.exit_code, 0) << simulated.err;
    EXPECT_EQ(simulated.out.find("SIMULATED gateway"), std::string::npos) << "stdout stays machine-readable";
    EXPECT_NE(simulated.out.find("/payments/:id/simulate"), std::string::npos) << simulated.out;
    auto real = routes(with({{"RAZORPAY_API_BASE", "http://localhost:9/v1"}}));
    ASSERT_EQ(real.exit_code, 0) << real.err;
    EXPECT_EQ(real.out.find("/payments/:id/simulate"), std::string::npos) << real.out;
    EXPECT_NE(real.out.find("/payments/webhook"), std::string::npos) << real.out;
}

}  // namespace
