// Crash safety: mixed traffic (orders, payments, signed capture webhooks)
// against the real host with all four plugins, which is killed with SIGKILL at
// a random moment ten times and restarted. Afterwards:
//   - every order a client saw 201 for exists, with its items and its stock held;
//   - no order exists without items;
//   - for each product, `reserved` is the sum of its active reservations and
//     `on_hand` moved only by committed sales (the movements add up to it);
//   - every capture a client saw acknowledged paid its order, and the order's
//     stock is committed, not held;
//   - replaying every acknowledged webhook changes nothing.
#include <sys/wait.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>

#include "common.hpp"
#include "shop.hpp"
#include "signature.hpp"

using namespace omstest;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr const char* kWebhookSecret = "crash-test-webhook-secret";
constexpr int kProducts = 6;
constexpr int64_t kStock = 100000;

struct Placed {
    std::string order_id;
    size_t lines = 0;
};
struct Captured {
    std::string order_id, event_id, body, signature;
};

// What the clients saw answered, across all the host's lives.
struct Seen {
    std::mutex mu;
    std::vector<Placed> placed;
    std::vector<Captured> captured;
    std::atomic<int> unanswered{0};
};

std::string capture_event(const std::string& gateway_order_id, int64_t amount, int n) {
    char pay[32];
    std::snprintf(pay, sizeof pay, "pay_Crash%09d", n);
    json payment = {{"id", pay},          {"entity", "payment"}, {"amount", amount},   {"currency", "INR"},
                    {"status", "captured"}, {"order_id", gateway_order_id}, {"method", "upi"}, {"captured", true}};
    return json{{"entity", "event"},
                {"event", "payment.captured"},
                {"contains", {"payment"}},
                {"payload", {{"payment", {{"entity", payment}}}}},
                {"created_at", 1700000000}}
        .dump();
}

HttpResponse deliver(int port, const Captured& c) {
    return http_request(port, "POST", "/payments/webhook", c.body,
                        {{"Content-Type", "application/json"},
                         {"X-Razorpay-Signature", c.signature},
                         {"X-Razorpay-Event-Id", c.event_id}});
}

// One client: places orders; pays about a third of them (POST /payments, then
// the gateway's signed payment.captured). Stops at the first answer it does not get.
void shop(int port, const User& who, const std::vector<std::string>& products, unsigned seed, Seen& seen,
          std::atomic<int>& events, const std::atomic<bool>& stop) {
    std::mt19937 rng(seed);
    while (!stop) {
        try {
            json items = json::array();
            size_t lines = 1 + rng() % 2;
            for (size_t i = 0; i < lines; ++i)
                items.push_back({{"product_id", products[(rng() + i) % products.size()]}, {"quantity", 1 + rng() % 3}});
            if (items.size() == 2 && items[0]["product_id"] == items[1]["product_id"]) items.erase(1), lines = 1;
            auto placed = post(port, "/orders", {{"items", items}}, who.token);
            if (placed.status != 201) {
                ADD_FAILURE() << placed;
                return;
            }
            std::string order_id = placed.json()["id"];
            {
                std::lock_guard lock(seen.mu);
                seen.placed.push_back({order_id, lines});
            }
            if (rng() % 3 != 0) continue;
            auto payment = post(port, "/payments", {{"order_id", order_id}}, who.token);
            if (payment.status != 201 && payment.status != 200) {
                ADD_FAILURE() << payment;
                return;
            }
            auto p = payment.json();
            int64_t paise = std::llround(p["amount"].get<double>() * 100);
            int n = ++events;
            Captured c{order_id, "evt_crash_" + std::to_string(n), "", ""};
            c.body = capture_event(p["gateway_order_id"], paise, n);
            c.signature = payments::hmac_sha256_hex(kWebhookSecret, c.body);
            auto ack = deliver(port, c);
            if (ack.status != 200) {
                ADD_FAILURE() << ack;
                return;
            }
            std::lock_guard lock(seen.mu);
            seen.captured.push_back(c);
        } catch (const std::exception&) {  // the host died under us: this request has no answer
            ++seen.unanswered;
            return;
        }
    }
}

int64_t number(TestDatabase& db, const std::string& sql, std::vector<std::optional<std::string>> params = {}) {
    auto rows = db.query(sql, params);
    return std::stoll(rows.at(0).begin().value().get<std::string>());
}

}  // namespace

TEST(CrashSafety, TenKillsUnderMixedTrafficLoseNothingAndLeaveNothingHalfDone) {
    TestDatabase db;
    PluginDir plugins({"users.so", "inventory.so", "orders.so", "payments.so"});
    std::map<std::string, std::string> env = {{"OMS_PLUGIN_DIR", plugins.path()},
                                              {"RAZORPAY_WEBHOOK_SECRET", kWebhookSecret},
                                              {"OMS_WORKERS", "8"}};

    // The shop: an admin (from the CLI), products, customers.
    std::vector<std::string> products;
    std::vector<User> customers;
    {
        auto host = start_host(db, env);
        ASSERT_NE(host, nullptr);
        User admin = sign_up(host->port(), "crash-admin");
        auto r = HostProcess::run({"users", "set-role", admin.email, "admin"}, host_env(db, env), 30s);
        ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
        for (int i = 0; i < kProducts; ++i) {
            auto p = post(host->port(), "/inventory",
                          {{"sku", unique("CRASH")}, {"name", "Crash item"}, {"price", 10 + i}, {"on_hand", kStock}},
                          admin.token);
            ASSERT_EQ(p.status, 201) << p;
            products.push_back(p.json()["product_id"]);
        }
        for (int i = 0; i < 6; ++i) customers.push_back(sign_up(host->port(), "crash-customer"));
    }

    Seen seen;
    std::atomic<int> events{0};
    std::mt19937 rng(std::random_device{}());
    int kills = 0;
    for (int life = 0; life < 10; ++life) {
        auto host = start_host(db, env);
        ASSERT_NE(host, nullptr) << "restart " << life;
        std::atomic<bool> stop{false};
        std::vector<std::thread> clients;
        for (size_t c = 0; c < customers.size(); ++c)
            clients.emplace_back(shop, host->port(), std::cref(customers[c]), std::cref(products),
                                 static_cast<unsigned>(rng()), std::ref(seen), std::ref(events), std::cref(stop));
        std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 900));
        host->kill9();
        ASSERT_EQ(host->wait_exit(5s), 128 + SIGKILL);
        ++kills;
        stop = true;
        for (auto& t : clients) t.join();
    }
    ASSERT_EQ(kills, 10);
    ASSERT_GT(seen.placed.size(), 50u) << "too little traffic to prove anything";
    ASSERT_GT(seen.captured.size(), 10u);

    // A last life: every acknowledged capture delivered again (Razorpay retries) changes nothing.
    auto host = start_host(db, env);
    ASSERT_NE(host, nullptr);
    auto snapshot = [&] {
        return db.query("SELECT (SELECT count(*) FROM orders WHERE status = 'paid') AS paid, "
                        "(SELECT sum(on_hand) FROM inventory_products) AS on_hand, "
                        "(SELECT sum(reserved) FROM inventory_products) AS reserved, "
                        "(SELECT count(*) FROM payment_attempts) AS attempts");
    };
    auto before = snapshot();
    for (const auto& c : seen.captured) {
        auto again = deliver(host->port(), c);
        EXPECT_EQ(again.status, 200) << again;
        EXPECT_EQ(again.json().value("status", ""), "duplicate") << again;
    }
    EXPECT_EQ(snapshot(), before);

    // Every order a client saw 201 for exists with its items and its stock held or sold.
    for (const auto& p : seen.placed) {
        EXPECT_EQ(number(db, "SELECT count(*) FROM order_items WHERE order_id = $1::uuid", {p.order_id}),
                  static_cast<int64_t>(p.lines))
            << p.order_id;
        EXPECT_EQ(number(db,
                         "SELECT count(*) FROM inventory_reservations WHERE order_id = $1::uuid "
                         "AND status IN ('active', 'committed')",
                         {p.order_id}),
                  static_cast<int64_t>(p.lines))
            << p.order_id;
    }
    // No half orders: none without items, none pending without its held stock, none paid with stock still held.
    EXPECT_EQ(number(db, "SELECT count(*) FROM orders o WHERE NOT EXISTS "
                         "(SELECT 1 FROM order_items i WHERE i.order_id = o.id)"),
              0);
    EXPECT_EQ(number(db, "SELECT count(*) FROM orders o JOIN order_items i ON i.order_id = o.id "
                         "WHERE o.status = 'pending' AND NOT EXISTS (SELECT 1 FROM inventory_reservations r "
                         "  WHERE r.order_id = o.id AND r.product_id = i.product_id AND r.status = 'active' "
                         "  AND r.quantity = i.quantity)"),
              0);
    EXPECT_EQ(number(db, "SELECT count(*) FROM orders o JOIN inventory_reservations r ON r.order_id = o.id "
                         "WHERE o.status = 'paid' AND r.status <> 'committed'"),
              0);
    // Every acknowledged capture paid its order.
    for (const auto& c : seen.captured)
        EXPECT_EQ(db.scalar("SELECT status FROM orders WHERE id = '" + c.order_id + "'"), "paid") << c.order_id;
    // Stock: reserved = live holds; on_hand = initial - committed sales = the movements' sum.
    auto stock = db.query(
        "SELECT p.product_id, p.on_hand, p.reserved, "
        "  (SELECT coalesce(sum(quantity), 0) FROM inventory_reservations r WHERE r.product_id = p.product_id "
        "    AND r.status = 'active') AS held, "
        "  (SELECT coalesce(sum(quantity), 0) FROM inventory_reservations r WHERE r.product_id = p.product_id "
        "    AND r.status = 'committed') AS sold, "
        "  (SELECT coalesce(sum(delta_on_hand), 0) FROM inventory_movements m WHERE m.product_id = p.product_id) AS moved "
        "FROM inventory_products p");
    ASSERT_EQ(stock.size(), static_cast<size_t>(kProducts));
    for (const auto& s : stock) {
        EXPECT_EQ(s["reserved"], s["held"]) << s;
        EXPECT_EQ(std::stoll(s["on_hand"].get<std::string>()), kStock - std::stoll(s["sold"].get<std::string>())) << s;
        EXPECT_EQ(s["on_hand"], s["moved"]) << s;
    }
    std::cout << "[ figures  ] kills " << kills << ", orders answered " << seen.placed.size() << ", captures answered "
              << seen.captured.size() << " (replayed once each), requests cut off by a kill " << seen.unanswered
              << ", orders in the database " << number(db, "SELECT count(*) FROM orders") << "\n";
}
