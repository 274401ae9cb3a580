// Declared plugin contracts (ABI 1.3), through the real host with the stock plugins:
//  - every stock event and service is declared, money in minor units marked;
//  - a full walk (order, simulated payment, refund) publishes and answers only
//    what the declarations allow, with the checks on;
//  - the checks refuse an undeclared event, a payload, arguments or a result
//    unlike the declaration, and an undeclared call; production turns them off;
//  - start-up refuses a subscription or call no loaded plugin provides;
//  - `oms-host contracts`, GET /asyncapi.json (validated by @asyncapi/parser,
//    installed by npm once per build directory) and the README's sections.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "common.hpp"
#include "node_tools.hpp"
#include "shop.hpp"

using namespace omstest;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kStock = {"users", "inventory", "orders", "payments"};

fs::path source_dir() { return fs::path(__FILE__).parent_path().parent_path().parent_path(); }
PluginDir& stock_with_probe() {
    static PluginDir dir({"users.so", "inventory.so", "orders.so", "payments.so", "probe.so"});
    return dir;
}

std::map<std::string, std::string> cli_env(const std::string& plugin_dir, std::map<std::string, std::string> extra = {}) {
    std::map<std::string, std::string> env = {{"OMS_PLUGIN_DIR", plugin_dir}, {"OMS_CONFIG", "/dev/null"},
                                              {"OMS_DOTENV", "/dev/null"}, {"DATABASE_URL", "postgresql://unused/"}};
    for (auto& [k, v] : extra) env[k] = v;
    return env;
}

json contracts_of(const std::string& plugin_dir) {
    auto r = HostProcess::run({"contracts", "--format", "json"}, cli_env(plugin_dir));
    if (r.exit_code != 0) throw std::runtime_error("oms-host contracts failed: " + r.out + r.err);
    return json::parse(r.out);
}

// Every property of a schema, depth first, with its path ("/items/unit_price").
void properties(const json& schema, const std::string& at, std::vector<std::pair<std::string, json>>& out) {
    if (!schema.is_object()) return;
    if (schema.contains("properties"))
        for (auto it = schema["properties"].begin(); it != schema["properties"].end(); ++it) {
            out.emplace_back(at + "/" + it.key(), *it);
            properties(*it, at + "/" + it.key(), out);
        }
    if (schema.contains("items")) properties(schema["items"], at, out);
    for (const char* k : {"anyOf", "oneOf", "allOf"})
        if (schema.contains(k))
            for (const auto& alt : schema[k]) properties(alt, at, out);
}

// The AsyncAPI parser: <build>/asyncapi-check, from tests/integration/asyncapi/.
std::string prepare_asyncapi_validator(fs::path& dir) {
    return install_node_tool(fs::path(__FILE__).parent_path() / "asyncapi", "asyncapi-check",
                             "@asyncapi/parser/package.json", dir);
}

class Contracts : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        db_ = new TestDatabase();
        host_ = start_host(*db_, env()).release();
    }
    static void TearDownTestSuite() {
        delete host_;
        host_ = nullptr;
        delete db_;
        db_ = nullptr;
    }
    void SetUp() override { ASSERT_NE(host_, nullptr) << "the shared host did not start"; }
    static std::map<std::string, std::string> env(std::map<std::string, std::string> extra = {}) {
        extra["OMS_PLUGIN_DIR"] = stock_with_probe().path();  // no RAZORPAY_*: the simulated gateway
        return extra;
    }
    static int port() { return host_->port(); }

    static inline TestDatabase* db_ = nullptr;
    static inline HostProcess* host_ = nullptr;
};

}  // namespace

TEST_F(Contracts, EveryStockEventAndServiceIsDeclaredWithItsMoneyUnitMarked) {
    json all = contracts_of(stock_with_probe().path());
    std::set<std::string> events, services;
    for (const auto& p : all["plugins"]) {
        if (std::find(kStock.begin(), kStock.end(), p["name"]) == kStock.end()) continue;
        SCOPED_TRACE(p["name"].get<std::string>());
        EXPECT_TRUE(p["declares_contracts"].get<bool>());
        std::vector<std::pair<std::string, json>> props;
        for (const auto& e : p["events"]) {
            events.insert(e["name"]);
            EXPECT_FALSE(e["summary"].get<std::string>().empty()) << e;
            properties(e["payload"], e["name"].get<std::string>(), props);
        }
        for (const auto& s : p["services"]) {
            services.insert(s["name"]);
            ASSERT_TRUE(s.contains("args") && s.contains("result")) << s;
            properties(s["args"], s["name"].get<std::string>() + " args", props);
            properties(s["result"], s["name"].get<std::string>() + " result", props);
        }
        // Money is named amount, total or price; each says its unit, and an
        // integer one is minor units (a number one, from an HTTP shape, major).
        static const std::regex money(".*(amount|total|price)[^/]*$");
        for (const auto& [path, schema] : props) {
            if (!std::regex_match(path, money) || !schema.contains("type")) continue;
            std::string unit = schema.value("x-oms-unit", "");
            std::string expected = schema["type"] == "integer" ? "minor" : schema["type"] == "number" ? "major" : unit;
            EXPECT_EQ(unit, expected) << path << ": " << schema;
        }
    }
    for (const char* e : {"order.created", "order.paid", "order.cancelled", "order.expired", "order.shipped",
                          "order.delivered", "order.refunded", "payment.captured", "payment.refunded",
                          "inventory.reservation_expired"})
        EXPECT_TRUE(events.count(e)) << e;
    for (const char* s : {"users.get", "oms.resolve_caller", "orders.get", "inventory.reserve", "inventory.commit",
                          "inventory.release", "inventory.restock", "payments.for_order", "payments.refund_order"})
        EXPECT_TRUE(services.count(s)) << s;

    // The table names every kind.
    auto text = HostProcess::run({"contracts"}, cli_env(stock_with_probe().path()));
    ASSERT_EQ(text.exit_code, 0) << text.err;
    for (const char* line : {"orders     publishes   order.paid", "orders     subscribes  payment.captured",
                             "payments   calls       orders.get", "users      offers      users.get"})
        EXPECT_NE(text.out.find(line), std::string::npos) << line << "\n" << text.out;
}

TEST_F(Contracts, AWalkThroughEveryStockPluginPublishesAndAnswersOnlyWhatIsDeclared) {
    // The admin from the CLI; a product; a customer's order, paid through the
    // simulated gateway (payment.captured → order.paid), shown (orders.get,
    // payments.for_order), refunded (payment.refunded → order.refunded).
    User admin = sign_up(port(), "admin");
    auto set_role = HostProcess::run({"users", "set-role", admin.email, "admin"}, host_env(*db_, env()));
    ASSERT_EQ(set_role.exit_code, 0) << set_role.err;
    auto product = post(port(), "/inventory", {{"sku", unique("C")}, {"name", "contract"}, {"price", 12.5}, {"on_hand", 5}},
                        admin.token);
    ASSERT_EQ(product.status, 201) << product;
    User buyer = sign_up(port(), "buyer");
    auto order = post(port(), "/orders", {{"items", {{{"product_id", product.json()["product_id"]}, {"quantity", 2}}}}},
                      buyer.token);
    ASSERT_EQ(order.status, 201) << order;
    std::string order_id = order.json()["id"];
    auto payment = post(port(), "/payments", {{"order_id", order_id}}, buyer.token);
    ASSERT_EQ(payment.status, 201) << payment;
    std::string payment_id = payment.json()["id"];
    auto captured = post(port(), "/payments/" + payment_id + "/simulate", {{"outcome", "captured"}}, buyer.token);
    ASSERT_EQ(captured.status, 200) << captured;
    auto shown = get(port(), "/orders/" + order_id, buyer.token);
    ASSERT_EQ(shown.status, 200) << shown;
    EXPECT_EQ(shown.json()["status"], "paid");
    EXPECT_EQ(shown.json()["payments"].size(), 1u);
    auto refund = post(port(), "/payments/" + payment_id + "/refund", json::object(), admin.token);
    ASSERT_EQ(refund.status, 201) << refund;
    EXPECT_TRUE(wait_until([&] { return get(port(), "/orders/" + order_id, buyer.token).json()["status"] == "refunded"; },
                           10s));
    EXPECT_EQ(host_->log().find("contract_violation"), std::string::npos) << host_->log();
}

TEST_F(Contracts, TheChecksRefuseWhatTheDeclarationsDoNotAllowAndProductionSkipsThem) {
    auto expect_violation = [&](const HttpResponse& r, const std::string& names) {
        expect_problem(r, 500, "contract_violation");
        EXPECT_NE(r.json().value("detail", "").find(names), std::string::npos) << r;
    };
    // An event no loaded plugin declares.
    expect_violation(post(port(), "/probe/publish", {{"event", "probe.undeclared"}, {"payload", {{"item_id", 1}}}}),
                     "'probe.undeclared', which no loaded plugin declares");
    // A payload unlike the declaration (payments declares payment.captured).
    expect_violation(post(port(), "/probe/publish",
                          {{"event", "payment.captured"}, {"payload", {{"order_id", "x"}, {"amount", 12.5}}}}),
                     "/amount");
    // Arguments, and a result, unlike the service's declaration.
    expect_violation(post(port(), "/probe/call", {{"service", "probe.double"}, {"args", {{"n", "two"}}}}), "/n");
    expect_violation(post(port(), "/probe/call",
                          {{"service", "probe.double"}, {"args", {{"n", 2}, {"break_contract", true}}}}),
                     "answered a result unlike its declaration: /doubled");
    // A call the probe does not declare it makes.
    expect_violation(post(port(), "/probe/call", {{"service", "oms.resolve_caller"}, {"args", {{"user_id", "x"}}}}),
                     "which it does not declare it calls");
    // The resolver's name before ABI 1.3 still reaches it (the probe declares that name).
    User someone = sign_up(port(), "someone");
    auto legacy = post(port(), "/probe/call", {{"service", "auth.resolve_caller"}, {"args", {{"user_id", someone.id}}}});
    ASSERT_EQ(legacy.status, 200) << legacy;
    EXPECT_EQ(legacy.json(), json({{"user_id", someone.id}, {"role", "customer"}}));
    // What is declared and matches goes through.
    auto fine = post(port(), "/probe/call", {{"service", "probe.double"}, {"args", {{"n", 21}}}});
    ASSERT_EQ(fine.status, 200) << fine;
    EXPECT_EQ(fine.json()["doubled"], 42);

    // Production skips the checks: the same calls reach the plugins.
    auto prod = start_host(*db_, env({{"OMS_ENV", "production"}, {"JWT_SECRET", kTestJwtSecret},
                                      {"RAZORPAY_KEY_ID", "rzp_test_x"}, {"RAZORPAY_KEY_SECRET", "s"},
                                      {"RAZORPAY_WEBHOOK_SECRET", "w"}}));
    ASSERT_NE(prod, nullptr);
    auto broken = post(prod->port(), "/probe/call", {{"service", "probe.double"}, {"args", {{"n", 2}, {"break_contract", true}}}});
    EXPECT_EQ(broken.status, 200) << broken;
    EXPECT_EQ(broken.json()["doubled"], "not a number");
    // ...unless an operator turns them on.
    auto strict = start_host(*db_, env({{"OMS_ENV", "production"}, {"JWT_SECRET", kTestJwtSecret},
                                        {"RAZORPAY_KEY_ID", "rzp_test_x"}, {"RAZORPAY_KEY_SECRET", "s"},
                                        {"RAZORPAY_WEBHOOK_SECRET", "w"}, {"OMS_CONTRACT_CHECKS", "true"}}));
    ASSERT_NE(strict, nullptr);
    expect_problem(post(strict->port(), "/probe/call",
                        {{"service", "probe.double"}, {"args", {{"n", 2}, {"break_contract", true}}}}),
                   500, "contract_violation");
}

TEST_F(Contracts, StartUpRefusesASubscriptionOrACallThatNoLoadedPluginProvides) {
    PluginDir gaps({}, {env_or_fail("OMS_CONTRACT_PLUGIN_DIR") + "/contract_gaps.so"});
    // migrate (like serve and plugin commands) refuses before touching the database.
    auto run = [&](const std::string& gap) {
        return HostProcess::run({"migrate"}, cli_env(gaps.path(), {{"CONTRACT_GAP", gap}}));
    };
    auto subscription = run("subscription");
    EXPECT_EQ(subscription.exit_code, 2) << subscription.out << subscription.err;
    EXPECT_NE(subscription.err.find("plugin contract_gaps subscribes to 'nobody.happened', which no loaded plugin "
                                    "declares"),
              std::string::npos)
        << subscription.err;
    auto call = run("call");
    EXPECT_EQ(call.exit_code, 2) << call.out << call.err;
    EXPECT_NE(call.err.find("plugin contract_gaps calls the service 'nobody.answers', which no loaded plugin offers"),
              std::string::npos)
        << call.err;
    // The commands that describe the plugins still run, and show the gap.
    auto shown = HostProcess::run({"contracts"}, cli_env(gaps.path(), {{"CONTRACT_GAP", "call"}}));
    EXPECT_EQ(shown.exit_code, 0) << shown.err;
    EXPECT_NE(shown.out.find("nobody.answers   required, NOT PROVIDED by any loaded plugin"),
              std::string::npos)
        << shown.out;
    // Marked optional, the same plugin serves.
    TestDatabase db;
    auto optional = start_host(db, {{"OMS_PLUGIN_DIR", gaps.path()}, {"CONTRACT_GAP", "optional"}});
    EXPECT_NE(optional, nullptr);

    // The stock plugins without payments and users: their calls and
    // subscriptions to those are optional, so the shop serves.
    PluginDir partial({"inventory.so", "orders.so"});
    TestDatabase db2;
    EXPECT_NE(start_host(db2, {{"OMS_PLUGIN_DIR", partial.path()}}), nullptr);
}

TEST_F(Contracts, TheAsyncApiDocumentPassesTheAsyncApiParser) {
    auto r = http_get(port(), "/asyncapi.json");
    ASSERT_EQ(r.status, 200) << r;
    json doc = r.json();
    EXPECT_EQ(doc["asyncapi"], "3.0.0");
    ASSERT_TRUE(doc["channels"].contains("order.paid")) << doc.dump(2);
    const json& paid = doc["components"]["messages"]["order.paid"];
    EXPECT_EQ(paid["x-oms-plugin"], "orders");
    EXPECT_EQ(paid["payload"]["properties"]["total_amount"]["x-oms-unit"], "minor");
    EXPECT_EQ(doc["operations"]["orders.publishes.order.paid"]["action"], "send");
    EXPECT_EQ(doc["operations"]["orders.receives.payment.captured"]["action"], "receive");
    // The same document from the CLI.
    auto cli = HostProcess::run({"contracts", "--format", "asyncapi"}, cli_env(stock_with_probe().path()));
    ASSERT_EQ(cli.exit_code, 0) << cli.err;
    EXPECT_EQ(json::parse(cli.out), doc);

    fs::path dir;
    std::string why = prepare_asyncapi_validator(dir);
    ASSERT_TRUE(why.empty()) << why;
    write_file(dir / "asyncapi.json", doc.dump(2));
    auto v = HostProcess::run({(dir / "validate.mjs").string(), (dir / "asyncapi.json").string()}, {}, 120s, "",
                              which("node"));
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    // And the parser does refuse a broken one (so the pass above means something).
    json broken = doc;
    broken["operations"]["orders.publishes.order.paid"]["channel"]["$ref"] = "#/channels/nothing";
    write_file(dir / "broken.json", broken.dump(2));
    auto b = HostProcess::run({(dir / "validate.mjs").string(), (dir / "broken.json").string()}, {}, 120s, "",
                              which("node"));
    EXPECT_NE(b.exit_code, 0) << b.out << b.err;
}

TEST_F(Contracts, TheReadmeSectionsAreTheDeclarations) {
    std::string readme = read_file(source_dir() / "README.md");
    for (const auto& plugin : kStock) {
        SCOPED_TRACE(plugin);
        auto r = HostProcess::run({"contracts", "--format", "markdown", "--plugin", plugin},
                                  cli_env(stock_with_probe().path()));
        ASSERT_EQ(r.exit_code, 0) << r.err;
        std::string begin = "<!-- contracts:" + plugin + ":begin";
        std::string end = "<!-- contracts:" + plugin + ":end -->";
        auto b = readme.find(begin);
        ASSERT_NE(b, std::string::npos) << "README.md has no " << begin << " marker";
        b = readme.find('\n', b) + 1;
        auto e = readme.find(end, b);
        ASSERT_NE(e, std::string::npos);
        auto trimmed = [](std::string t) {
            while (!t.empty() && t.back() == '\n') t.pop_back();
            return t;
        };
        EXPECT_EQ(trimmed(readme.substr(b, e - b)), trimmed(r.out))
            << "README.md's contracts of " << plugin << " drifted from the code: run scripts/readme-contracts.sh";
    }
}

TEST_F(Contracts, APluginBuiltBeforeContractsKeepsWorking) {
    // legacy_resolver claims ABI 1.2: the old auth.resolve_caller name, an
    // undeclared subscription and an undeclared publish (checks on).
    PluginDir dir({"probe.so"}, {env_or_fail("OMS_CONTRACT_PLUGIN_DIR") + "/legacy_resolver.so"});
    TestDatabase db;
    auto host = start_host(db, {{"OMS_PLUGIN_DIR", dir.path()}});
    ASSERT_NE(host, nullptr);
    auto token = [&](const std::string& sub) {
        return post(host->port(), "/probe/token", {{"sub", sub}, {"role", "customer"}}).json()["token"].get<std::string>();
    };
    auto promoted = get(host->port(), "/probe/admin", token("promote-me"));
    EXPECT_EQ(promoted.status, 200) << "the role comes from the resolver under its old name: " << promoted;
    expect_problem(get(host->port(), "/probe/whoami", token("gone")), 401, "unauthorized");
    auto published = post(host->port(), "/legacy/publish", json::object());
    EXPECT_EQ(published.status, 200) << published;
    EXPECT_TRUE(wait_until([&] { return host->log().find("'nobody.legacy', which no loaded plugin declares") !=
                                        std::string::npos; }, 2s))
        << host->log();
}
