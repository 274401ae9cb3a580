// etc/nginx/oms.conf in front of two real hosts: the deployable load-balancer
// example, run as it ships. Two oms-host processes serve the real plugins on
// one throwaway database; Debian's nginx runs unprivileged-style on loopback
// (its own prefix, pid, logs and temp paths in a temporary folder, in the
// foreground) with the template's upstream pointed at the two hosts. Then,
// only through nginx: sign up, log in (the admin made by the CLI), create
// products, place orders concurrently — both hosts must have served orders,
// and the stock must be exact — plus request-id passthrough, the body limit
// and fail-over when one host stops.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>
#include <tuple>
#include <vector>

#include "common.hpp"
#include "shop.hpp"
#include "signature.hpp"

using namespace omstest;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
    std::ifstream in(p);
    if (!in) throw std::runtime_error("cannot read " + p.string());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const fs::path& p, const std::string& text) {
    std::ofstream out(p);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + p.string());
}

// A loopback port nobody listens on right now (the kernel's pick).
int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        throw std::runtime_error("cannot find a free port");
    int port = ntohs(a.sin_port);
    ::close(fd);
    return port;
}

std::string nginx_binary() {
    for (const char* candidate : {static_cast<const char*>(std::getenv("OMS_NGINX_BIN")), "/usr/sbin/nginx"})
        if (candidate && *candidate && ::access(candidate, X_OK) == 0) return candidate;
    throw std::runtime_error("nginx is not installed (./dev deps installs Debian's nginx)");
}

// The shipped template with the test's own upstream servers, listen address
// and access log; everything else exactly as an operator gets it. Throws if
// the template no longer has the shape this relies on.
std::string site_config(const std::string& tmpl, const std::vector<int>& host_ports, int listen_port,
                        const fs::path& access_log) {
    std::istringstream in(tmpl);
    std::ostringstream out;
    static const std::regex server_re(R"(^(\s*)server\s+\S+:\d+(\s.*)?;\s*$)");
    static const std::regex listen_re(R"(^(\s*)listen\s+[^;]+;\s*$)");
    static const std::regex access_re(R"(^(\s*)access_log\s+\S+(\s.*;)\s*$)");
    bool in_upstream = false, servers_written = false, listen_written = false, access_written = false;
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
        if (line.rfind("upstream oms_hosts", 0) == 0) in_upstream = true;
        if (in_upstream && line.rfind("}", 0) == 0) in_upstream = false;
        if (in_upstream && std::regex_match(line, m, server_re)) {
            if (!servers_written)
                for (int port : host_ports)
                    out << m[1] << "server 127.0.0.1:" << port << m[2] << ";\n";
            servers_written = true;
        } else if (!in_upstream && std::regex_match(line, m, listen_re)) {
            if (!listen_written) out << m[1] << "listen 127.0.0.1:" << listen_port << ";\n";
            listen_written = true;
        } else if (std::regex_match(line, m, access_re)) {
            out << m[1] << "access_log " << access_log.string() << m[2] << "\n";
            access_written = true;
        } else {
            out << line << "\n";
        }
    }
    if (!servers_written || !listen_written || !access_written)
        throw std::runtime_error("etc/nginx/oms.conf lost its `upstream oms_hosts { server ...; }`, `listen` or "
                                 "`access_log` lines, which this test rewrites");
    return out.str();
}

// Debian's nginx as a foreground child: everything it writes lives in `dir`.
class Nginx {
public:
    Nginx(const fs::path& dir, const std::string& site, int port) : dir_(dir), port_(port) {
        write_file(dir / "oms.conf", site);
        std::string main = "daemon off;\nmaster_process off;\n"
                           "pid " + (dir / "nginx.pid").string() + ";\n"
                           "error_log " + (dir / "error.log").string() + " info;\n"
                           "events { worker_connections 256; }\n"
                           "http {\n";
        for (const char* t : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"})
            main += std::string("    ") + t + "_temp_path " + (dir / t).string() + ";\n";
        main += "    include " + (dir / "oms.conf").string() + ";\n}\n";
        write_file(dir / "nginx.conf", main);
        args_ = {"-p", dir.string() + "/", "-c", (dir / "nginx.conf").string(), "-e", (dir / "error.log").string()};
    }

    // nginx -t: the template is valid nginx as shipped.
    HostProcess::RunResult check() const {
        auto a = args_;
        a.insert(a.begin(), "-t");
        return HostProcess::run(a, {}, 30s, "", nginx_binary());
    }

    // Starts nginx and waits until it proxies GET /health/live.
    bool start() {
        proc_ = std::make_unique<HostProcess>(args_, std::map<std::string, std::string>{}, nginx_binary());
        for (auto deadline = std::chrono::steady_clock::now() + 15s; std::chrono::steady_clock::now() < deadline;
             std::this_thread::sleep_for(100ms)) {
            if (!proc_->running()) return false;
            try {
                if (http_get(port_, "/health/live").status == 200) return true;
            } catch (const std::exception&) {
            }
        }
        return false;
    }
    void stop() { proc_.reset(); }
    std::string logs() const {
        std::string out = "nginx output:\n" + (proc_ ? proc_->log() : std::string());
        std::error_code ec;
        if (fs::exists(dir_ / "error.log", ec)) out += "\nerror.log:\n" + read_file(dir_ / "error.log");
        return out;
    }
    int port() const { return port_; }

private:
    fs::path dir_;
    int port_;
    std::vector<std::string> args_;
    std::unique_ptr<HostProcess> proc_;
};

// The access-log lines (LOG_FORMAT=json, event "access") a host wrote.
std::vector<json> access_lines(const HostProcess& host) {
    std::vector<json> out;
    std::istringstream in(host.log());
    std::string line;
    while (std::getline(in, line)) {
        auto j = json::parse(line, nullptr, false);
        if (j.is_object() && j.value("event", "") == "access") out.push_back(std::move(j));
    }
    return out;
}

int count_requests(const HostProcess& host, const std::string& method, const std::string& route) {
    int n = 0;
    for (const auto& l : access_lines(host))
        if (l.value("method", "") == method && l.value("route", "") == route) ++n;
    return n;
}


class NginxInFront : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/oms-nginx-test-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        db_ = std::make_unique<TestDatabase>();
        std::map<std::string, std::string> env = {{"OMS_PLUGIN_DIR", env_or_fail("OMS_PLUGIN_BUILD_DIR")},
                                                  {"LOG_LEVEL", "info"},
                                                  {"LOG_FORMAT", "json"},
                                                  {"OMS_WORKERS", "4"}};
        for (auto& [k, v] : extra_env()) env[k] = v;
        // Started together: the migration lock makes that safe.
        a_ = std::make_unique<HostProcess>(std::vector<std::string>{"serve"}, host_env(*db_, env));
        b_ = std::make_unique<HostProcess>(std::vector<std::string>{"serve"}, host_env(*db_, env));
        ASSERT_TRUE(a_->wait_ready(30s)) << a_->log();
        ASSERT_TRUE(b_->wait_ready(30s)) << b_->log();

        std::string tmpl_text = read_file(env_or_fail("OMS_NGINX_TEMPLATE"));
        for (int attempt = 0; attempt < 3 && !nginx_; ++attempt) {  // the free port may be taken meanwhile
            int port = free_port();
            auto n = std::make_unique<Nginx>(dir_, site_config(tmpl_text, {a_->port(), b_->port()}, port,
                                                               dir_ / "access.log"),
                                             port);
            auto t = n->check();
            ASSERT_EQ(t.exit_code, 0) << "nginx -t refused the generated config:\n" << t.out << t.err;
            if (n->start()) nginx_ = std::move(n);
            else std::cerr << "nginx did not start on port " << port << ":\n" << n->logs() << "\n";
        }
        ASSERT_TRUE(nginx_) << "nginx did not start";
        port_ = nginx_->port();
    }
    void TearDown() override {
        nginx_.reset();
        a_.reset();
        b_.reset();
        db_.reset();
        std::error_code ec;
        if (!std::getenv("OMS_TEST_KEEP_LOGS")) fs::remove_all(dir_, ec);
    }

    virtual std::map<std::string, std::string> extra_env() const { return {}; }

    // An admin from the CLI (password from the environment, never argv), logged in through nginx.
    std::string make_admin() {
        const std::string email = unique("admin") + "@example.com", password = "admin password 123";
        auto made = HostProcess::run({"users", "create-admin", "--email", email, "--name", "Admin"},
                                     host_env(*db_, {{"OMS_PLUGIN_DIR", env_or_fail("OMS_PLUGIN_BUILD_DIR")},
                                                     {"OMS_ADMIN_PASSWORD", password}}));
        EXPECT_EQ(made.exit_code, 0) << made.out << made.err;
        return login(email, password);
    }

    std::string sign_up_and_login(const std::string& email, const std::string& password) {
        auto created = http_post_json(port_, "/users/create", {{"name", "Nginx"}, {"email", email}, {"password", password}});
        EXPECT_EQ(created.status, 201) << created;
        return login(email, password);
    }
    std::string login(const std::string& email, const std::string& password) {
        auto r = http_post_json(port_, "/users/login", {{"email", email}, {"password", password}});
        EXPECT_EQ(r.status, 200) << r;
        return r.json().value("token", "");
    }

    fs::path dir_;
    std::unique_ptr<TestDatabase> db_;
    std::unique_ptr<HostProcess> a_, b_;
    std::unique_ptr<Nginx> nginx_;
    int port_ = 0;
};

TEST_F(NginxInFront, SpreadsOrdersOverBothHostsWithExactStock) {
    std::string admin = make_admin();
    std::string customer = sign_up_and_login(unique("buyer") + "@example.com", "correct horse battery");
    ASSERT_FALSE(admin.empty());
    ASSERT_FALSE(customer.empty());

    // Two products through nginx.
    auto create = [&](int on_hand) {
        auto r = http_post_json(port_, "/inventory",
                                {{"sku", unique("lb")}, {"name", "Balanced"}, {"price", 99.99}, {"on_hand", on_hand}},
                                with_auth(admin));
        EXPECT_EQ(r.status, 201) << r;
        return r.json().value("product_id", "");
    };
    std::string p1 = create(12), p2 = create(5);

    // 24 orders for one unit of p1 and 6 for two units of p2, from 6 threads
    // at once, all through nginx: exactly 12 and 2 can succeed.
    std::atomic<int> ok1{0}, ok2{0}, short1{0}, short2{0}, other{0};
    std::vector<std::future<void>> workers;
    for (int t = 0; t < 6; ++t)
        workers.push_back(std::async(std::launch::async, [&, t] {
            for (int i = 0; i < 5; ++i) {
                bool first = i != 0;  // each thread's first order is for p2: 6 of p2, 24 of p1
                json body = {{"items", {{{"product_id", first ? p1 : p2}, {"quantity", first ? 1 : 2}}}}};
                auto r = http_post_json(port_, "/orders", body, with_auth(customer));
                if (r.status == 201) ++(first ? ok1 : ok2);
                else if (r.status == 409 && r.json().value("code", "") == "insufficient_stock") ++(first ? short1 : short2);
                else {
                    ++other;
                    ADD_FAILURE() << r;
                }
            }
        }));
    for (auto& w : workers) w.get();
    EXPECT_EQ(other.load(), 0);
    EXPECT_EQ(ok1.load(), 12);
    EXPECT_EQ(short1.load(), 12);
    EXPECT_EQ(ok2.load(), 2);
    EXPECT_EQ(short2.load(), 4);

    // The stock, read through nginx and in the database, is exact.
    for (auto [id, on_hand, reserved] : {std::tuple{p1, 12, 12}, std::tuple{p2, 5, 4}}) {
        auto r = http_get(port_, "/inventory/" + id);
        ASSERT_EQ(r.status, 200) << r;
        EXPECT_EQ(r.json()["on_hand"], on_hand) << r;
        EXPECT_EQ(r.json()["reserved"], reserved) << r;
        EXPECT_EQ(r.json()["available"], on_hand - reserved) << r;
        auto held = db_->query("SELECT coalesce(sum(quantity), 0) AS n FROM order_items WHERE product_id = $1::uuid",
                               {id});
        EXPECT_EQ(held.at(0)["n"], std::to_string(reserved));
    }

    // Both hosts placed orders, and between them they saw every attempt.
    int on_a = count_requests(*a_, "POST", "/orders"), on_b = count_requests(*b_, "POST", "/orders");
    EXPECT_GT(on_a, 0) << "host A served no POST /orders";
    EXPECT_GT(on_b, 0) << "host B served no POST /orders";
    EXPECT_EQ(on_a + on_b, 30);
    // Every request reached a host as 127.0.0.1 (nginx), with nginx's headers.
    for (const auto* h : {a_.get(), b_.get()})
        for (const auto& l : access_lines(*h)) EXPECT_EQ(l.value("remote", ""), "127.0.0.1") << l;
}

TEST_F(NginxInFront, PassesRequestIdsAndAnswersProblems) {
    // The client's id reaches the host, which echoes it.
    auto r = http_get(port_, "/health", {{"X-Request-Id", "lb-check.42"}});
    ASSERT_EQ(r.status, 200) << r;
    EXPECT_EQ(r.header("X-Request-Id"), "lb-check.42") << r;
    bool logged = false;
    for (const auto* h : {a_.get(), b_.get()})
        for (const auto& l : access_lines(*h)) logged = logged || l.value("request_id", "") == "lb-check.42";
    EXPECT_TRUE(logged) << "no host logged the client's request id";

    // Without one (or with one the host would refuse), nginx's own id is sent
    // and echoed: 32 hex digits, logged by a host and by nginx.
    for (HeaderList h : {HeaderList{}, HeaderList{{"X-Request-Id", "bad id with spaces"}}}) {
        auto g = http_get(port_, "/health/live", h);
        ASSERT_EQ(g.status, 200) << g;
        std::string id = g.header("X-Request-Id");
        EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{32}"))) << g;
        bool seen = false;
        for (const auto* host : {a_.get(), b_.get()})
            for (const auto& l : access_lines(*host)) seen = seen || l.value("request_id", "") == id;
        EXPECT_TRUE(seen) << "no host logged nginx's request id " << id;
        // nginx logs after the answer is out: give it a moment.
        bool in_nginx_log = false;
        for (int i = 0; i < 50 && !in_nginx_log; ++i, std::this_thread::sleep_for(50ms))
            in_nginx_log = read_file(dir_ / "access.log").find("rid=" + id) != std::string::npos;
        EXPECT_TRUE(in_nginx_log) << "nginx's access log lacks rid=" << id;
    }

    // A body over OMS_BODY_LIMIT is refused by nginx already, as problem+json.
    HttpConnection c(port_);
    c.send_raw("POST /orders HTTP/1.1\r\nHost: oms\r\nContent-Type: application/json\r\n"
               "X-Request-Id: too-big-1\r\nContent-Length: 1048577\r\n\r\n");
    auto big = c.read_response();
    EXPECT_EQ(big.status, 413) << big;
    EXPECT_EQ(big.header("Content-Type"), "application/problem+json") << big;
    EXPECT_EQ(big.header("X-Request-Id"), "too-big-1") << big;
    auto problem = big.json();
    EXPECT_EQ(problem["code"], "body_too_large") << big;
    EXPECT_EQ(problem["request_id"], "too-big-1") << big;
    // One byte under the limit goes through to a host (which answers 400 for
    // the bytes not being JSON, not 413).
    std::string body(1048576, ' ');
    body.front() = '{';
    auto under = http_request(port_, "POST", "/users/login", body, {{"Content-Type", "application/json"}});
    EXPECT_EQ(under.status, 400) << under.status << " " << under.body.substr(0, 300);

    // Content-Length values Pistache 0.0.5 answers with a bare 500 (hostile_test)
    // never reach a host behind nginx: it refuses them with 400 itself.
    for (const char* length : {"-5", "18446744073709551617", "abc"}) {
        SCOPED_TRACE(length);
        HttpConnection bad(port_);
        bad.send_raw(std::string("POST /users/login HTTP/1.1\r\nHost: oms\r\nContent-Type: application/json\r\n"
                                 "Content-Length: ") + length + "\r\n\r\n{}");
        auto refused = bad.read_response();
        EXPECT_EQ(refused.status, 400) << refused;
    }
}

TEST_F(NginxInFront, KeepsServingWhenOneHostStops) {
    auto before = http_get(port_, "/health");
    ASSERT_EQ(before.status, 200) << before;
    a_->signal(SIGTERM);
    ASSERT_EQ(a_->wait_exit(30s), 0) << a_->log();
    // Every request still succeeds: nginx moves on to host B.
    for (int i = 0; i < 10; ++i) {
        auto r = http_get(port_, "/health");
        EXPECT_EQ(r.status, 200) << r;
        auto created = http_post_json(port_, "/users/create",
                                      {{"name", "After"}, {"email", unique("after") + "@example.com"},
                                       {"password", "correct horse battery"}});
        EXPECT_EQ(created.status, 201) << created;
    }
}

}  // namespace

// Two hosts on one database, reached directly and through nginx, running the
// reliability checks at the same moment: buyers of the last units, one
// Idempotency-Key sent to every door at once, one webhook event delivered to
// both hosts over and over, and unpaid orders expiring while all that runs.
class NginxAllAtOnce : public NginxInFront {
protected:
    static constexpr const char* kWebhookSecret = "all-at-once-webhook-secret";
    std::map<std::string, std::string> extra_env() const override {
        return {{"RAZORPAY_WEBHOOK_SECRET", kWebhookSecret}, {"OMS_RESERVATION_TTL", "10"},
                {"OMS_RESERVATION_SWEEP_MS", "100"}, {"LOG_LEVEL", "warn"}};
    }
};

TEST_F(NginxAllAtOnce, OversellIdempotencyWebhookDedupeAndExpiryTogether) {
    std::string admin = make_admin();
    std::string buyer = sign_up_and_login(unique("buyer") + "@example.com", "correct horse battery");
    auto product = [&](int on_hand) {
        auto r = http_post_json(port_, "/inventory", {{"sku", unique("all")}, {"name", "Shared"}, {"price", 10}, {"on_hand", on_hand}},
                                with_auth(admin));
        EXPECT_EQ(r.status, 201) << r;
        return r.json().value("product_id", "");
    };
    std::string scarce = product(30), plenty = product(1000), paid_for = product(1000), lapsing = product(1000);
    const std::vector<int> doors = {a_->port(), b_->port(), port_};  // host A, host B, nginx
    auto order_of = [](const std::string& pid, int quantity) {
        return json{{"items", {{{"product_id", pid}, {"quantity", quantity}}}}};
    };

    // Paid orders first (their payments must land before the reservations lapse).
    struct Paid {
        std::string order_id, event_id, body, signature;
    };
    std::vector<Paid> paid;
    for (int i = 0; i < 5; ++i) {
        auto o = http_post_json(port_, "/orders", order_of(paid_for, 2), with_auth(buyer));
        ASSERT_EQ(o.status, 201) << o;
        auto p = http_post_json(port_, "/payments", {{"order_id", o.json()["id"]}}, with_auth(buyer));
        ASSERT_EQ(p.status, 201) << p;
        json payment = {{"id", "pay_AllAtOnce0000" + std::to_string(i)}, {"entity", "payment"}, {"amount", 2000},
                        {"currency", "INR"}, {"status", "captured"}, {"order_id", p.json()["gateway_order_id"]},
                        {"captured", true}, {"method", "card"}};
        std::string body = json{{"entity", "event"}, {"event", "payment.captured"}, {"contains", {"payment"}},
                                {"payload", {{"payment", {{"entity", payment}}}}}, {"created_at", 1700000000}}
                               .dump();
        paid.push_back({o.json()["id"], "evt_all_at_once_" + std::to_string(i), body,
                        payments::hmac_sha256_hex(kWebhookSecret, body)});
    }
    // Orders left unpaid, to expire meanwhile.
    std::vector<std::string> unpaid;
    for (int i = 0; i < 10; ++i) {
        auto o = http_post_json(doors[i % 3], "/orders", order_of(lapsing, 1), with_auth(buyer));
        ASSERT_EQ(o.status, 201) << o;
        unpaid.push_back(o.json()["id"]);
    }

    std::atomic<int> sold{0}, short_of_stock{0}, processed{0}, duplicates{0}, unexpected{0};
    std::mutex mu;
    std::map<std::string, std::set<std::string>> ids_per_key;
    std::vector<std::future<void>> work;
    // 90 buyers of the 30 scarce units, a third at each door.
    for (int t = 0; t < 9; ++t)
        work.push_back(std::async(std::launch::async, [&, t] {
            for (int i = 0; i < 10; ++i) {
                auto r = http_post_json(doors[t % 3], "/orders", order_of(scarce, 1), with_auth(buyer));
                if (r.status == 201) ++sold;
                else if (r.status == 409 && r.json().value("code", "") == "insufficient_stock") ++short_of_stock;
                else {
                    ++unexpected;
                    ADD_FAILURE() << r;
                }
            }
        }));
    // Ten keys, each sent to the three doors at the same moment.
    for (int k = 0; k < 10; ++k)
        for (int door : doors)
            work.push_back(std::async(std::launch::async, [&, k, door] {
                std::string key = "all-at-once-key-" + std::to_string(k);
                for (int attempt = 0; attempt < 20; ++attempt) {
                    auto r = http_post_json(door, "/orders", order_of(plenty, 1 + k % 3),
                                            with_auth(buyer, {{"Idempotency-Key", key}}));
                    if (r.status == 409 && r.json().value("code", "") == "idempotency_key_in_use") {
                        std::this_thread::sleep_for(50ms);  // the first is still running: retry, as told
                        continue;
                    }
                    if (r.status != 201) {
                        ++unexpected;
                        ADD_FAILURE() << r;
                        return;
                    }
                    std::lock_guard lock(mu);
                    ids_per_key[key].insert(r.json()["id"]);
                    return;
                }
                ++unexpected;
                ADD_FAILURE() << "key " << key << " stayed in use";
            }));
    // Each capture event delivered four times to each host at once.
    for (const auto& p : paid)
        for (int copy = 0; copy < 8; ++copy)
            work.push_back(std::async(std::launch::async, [&, copy] {
                auto r = http_request(copy % 2 ? a_->port() : b_->port(), "POST", "/payments/webhook", p.body,
                                      {{"Content-Type", "application/json"},
                                       {"X-Razorpay-Signature", p.signature},
                                       {"X-Razorpay-Event-Id", p.event_id}});
                if (r.status != 200) {
                    ++unexpected;
                    ADD_FAILURE() << r;
                    return;
                }
                std::string status = r.json().value("status", "");
                if (status == "processed") ++processed;
                else if (status == "duplicate") ++duplicates;
                else ++unexpected;
            }));
    for (auto& w : work) w.get();

    EXPECT_EQ(unexpected.load(), 0);
    EXPECT_EQ(sold.load(), 30);
    EXPECT_EQ(short_of_stock.load(), 60);
    EXPECT_EQ(ids_per_key.size(), 10u);
    for (const auto& [key, ids] : ids_per_key) EXPECT_EQ(ids.size(), 1u) << key << ": one key made several orders";
    EXPECT_EQ(db_->scalar("SELECT count(*) FROM order_items WHERE product_id = '" + plenty + "'"), "10");
    EXPECT_EQ(processed.load(), 5);
    EXPECT_EQ(duplicates.load(), 35);
    for (const auto& p : paid) EXPECT_EQ(db_->scalar("SELECT status FROM orders WHERE id = '" + p.order_id + "'"), "paid");
    EXPECT_EQ(db_->scalar("SELECT on_hand FROM inventory_products WHERE product_id = '" + paid_for + "'"), "990");

    // Meanwhile both hosts' expiry jobs ran: each unpaid order expires exactly once.
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline &&
           db_->scalar("SELECT reserved FROM inventory_products WHERE product_id = '" + lapsing + "'") != "0")
        std::this_thread::sleep_for(200ms);
    for (const auto& id : unpaid) {
        EXPECT_EQ(db_->scalar("SELECT status FROM orders WHERE id = '" + id + "'"), "expired") << id;
        EXPECT_EQ(db_->scalar("SELECT count(*) FROM order_status_history WHERE order_id = '" + id + "' AND to_status = 'expired'"),
                  "1")
            << id;
    }
    EXPECT_EQ(db_->scalar("SELECT on_hand FROM inventory_products WHERE product_id = '" + lapsing + "'"), "1000");
    // The scarce units' holds lapsed too, and nothing went below zero on the way.
    EXPECT_EQ(db_->scalar("SELECT count(*) FROM inventory_products WHERE reserved < 0 OR reserved > on_hand"), "0");
}
