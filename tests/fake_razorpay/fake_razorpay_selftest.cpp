// Self-test of the fake Razorpay: real sockets, a Poco client, and signatures
// checked independently with the openssl command line.
#include "fake_razorpay.hpp"

#include <Poco/Net/HTTPBasicCredentials.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <regex>
#include <unistd.h>

using omstest::FakeRazorpay;
using json = nlohmann::json;
namespace net = Poco::Net;

namespace {

struct Reply {
    int status = 0;
    json body;
};

// Default credentials are the fake's own; pass "" for none, or a raw header value.
Reply api(const FakeRazorpay& rp, const std::string& method, const std::string& path, const json& body = nullptr,
          std::optional<std::string> authorization = {}, std::optional<std::string> idempotency = {}) {
    net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(rp.port()));
    session.setTimeout(Poco::Timespan(5, 0));
    net::HTTPRequest req(method, "/v1" + path, net::HTTPMessage::HTTP_1_1);
    if (!authorization) net::HTTPBasicCredentials(rp.options().key_id, rp.options().key_secret).authenticate(req);
    else if (!authorization->empty()) req.set("Authorization", *authorization);
    if (idempotency) req.set("X-Refund-Idempotency", *idempotency);
    std::string out = body.is_null() ? "" : body.dump();
    if (method == "POST") {
        req.setContentType("application/json");
        req.setContentLength(static_cast<std::streamsize>(out.size()));
    }
    session.sendRequest(req) << out;
    net::HTTPResponse resp;
    std::string raw;
    Poco::StreamCopier::copyToString(session.receiveResponse(resp), raw);
    return {static_cast<int>(resp.getStatus()), json::parse(raw)};
}

// hex HMAC-SHA256 computed by the openssl CLI, independent of the fake's code.
std::string openssl_hmac(const std::string& key, const std::string& data) {
    char path[] = "/tmp/fake_rzp_XXXXXX";
    int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    close(fd);
    std::ofstream(path, std::ios::binary) << data;
    std::string cmd = "openssl dgst -sha256 -hmac '" + key + "' " + path;
    std::string out;
    if (FILE* p = popen(cmd.c_str(), "r")) {
        char buf[256];
        while (fgets(buf, sizeof buf, p)) out += buf;
        pclose(p);
    }
    std::remove(path);
    auto eq = out.find("= ");
    return eq == std::string::npos ? "openssl failed: " + out : out.substr(eq + 2, 64);
}

// A tiny webhook receiver: records what arrives, answers `status`.
struct Received {
    std::string body, event_id;
    std::optional<std::string> signature;
};
class Receiver {
public:
    Receiver() : socket_(net::SocketAddress("127.0.0.1", 0)) {
        server_ = std::make_unique<net::HTTPServer>(new Factory(*this), socket_, new net::HTTPServerParams);
        server_->start();
    }
    ~Receiver() { server_->stopAll(true); }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(socket_.address().port()) + "/payments/webhook"; }
    std::vector<Received> got() {
        std::lock_guard lock(mu_);
        return got_;
    }
    std::atomic<int> status{200};

private:
    struct Handler : net::HTTPRequestHandler {
        explicit Handler(Receiver& r) : r_(r) {}
        void handleRequest(net::HTTPServerRequest& req, net::HTTPServerResponse& resp) override {
            Received rec;
            Poco::StreamCopier::copyToString(req.stream(), rec.body);
            rec.event_id = req.get("X-Razorpay-Event-Id", "");
            if (req.has("X-Razorpay-Signature")) rec.signature = req.get("X-Razorpay-Signature");
            EXPECT_EQ(req.getURI(), "/payments/webhook");
            EXPECT_EQ(req.getContentType(), "application/json");
            {
                std::lock_guard lock(r_.mu_);
                r_.got_.push_back(rec);
            }
            resp.setStatus(static_cast<net::HTTPResponse::HTTPStatus>(r_.status.load()));
            resp.send() << "ok";
        }
        Receiver& r_;
    };
    struct Factory : net::HTTPRequestHandlerFactory {
        explicit Factory(Receiver& r) : r_(r) {}
        net::HTTPRequestHandler* createRequestHandler(const net::HTTPServerRequest&) override { return new Handler(r_); }
        Receiver& r_;
    };
    std::mutex mu_;
    std::vector<Received> got_;
    net::ServerSocket socket_;
    std::unique_ptr<net::HTTPServer> server_;
};

std::string create_order(const FakeRazorpay& rp, int64_t amount = 50000, json extra = json::object()) {
    json body = {{"amount", amount}, {"currency", "INR"}, {"receipt", "rcpt-1"}};
    body.update(extra);
    Reply r = api(rp, "POST", "/orders", body);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.body["id"];
}

// A captured payment of `amount` on a fresh order.
std::string captured_payment(FakeRazorpay& rp, int64_t amount = 50000) {
    std::string pay = rp.authorize(create_order(rp, amount));
    rp.capture(pay);
    return pay;
}

void expect_error(const Reply& r, int status, const std::string& description, json field = nullptr) {
    EXPECT_EQ(r.status, status) << r.body;
    const json& e = r.body["error"];
    EXPECT_EQ(e["code"], status >= 500 ? "SERVER_ERROR" : "BAD_REQUEST_ERROR");
    EXPECT_EQ(e["description"], description);
    EXPECT_EQ(e["field"], field);
    for (const char* k : {"source", "step", "reason", "metadata"}) EXPECT_TRUE(e.contains(k)) << k;
    if (!field.is_null()) {
        EXPECT_EQ(e["reason"], "input_validation_failed");
    }
}

}  // namespace

TEST(FakeRazorpay, RefusesMissingOrWrongCredentials) {
    FakeRazorpay rp;
    const json expected = json::parse(
        R"({"error":{"code":"BAD_REQUEST_ERROR","description":"The api key provided is invalid","field":null,)"
        R"("source":"NA","step":"NA","reason":"NA","metadata":{}}})");
    for (std::string header : {std::string(""), "Basic " + std::string("cnpwX3Rlc3Q6d3Jvbmc="),
                               "basic " + std::string("cnpwX3Rlc3RfZmFrZWtleTAwMDE6ZmFrZV9rZXlfc2VjcmV0XzAxMjM0NTY3ODk=")}) {
        Reply r = api(rp, "GET", "/orders/order_x", nullptr, header);
        EXPECT_EQ(r.status, 401) << header;
        EXPECT_EQ(r.body, expected);
    }
    // The lowercase scheme above differs from the right header only in "Basic".
    EXPECT_EQ(api(rp, "GET", "/orders/order_x", nullptr,
                  "Basic cnpwX3Rlc3RfZmFrZWtleTAwMDE6ZmFrZV9rZXlfc2VjcmV0XzAxMjM0NTY3ODk=").status, 400);
    ASSERT_EQ(rp.calls().size(), 4u);
    EXPECT_EQ(rp.calls()[0].status, 401);
}

TEST(FakeRazorpay, CreatesAndFetchesOrders) {
    FakeRazorpay rp;
    EXPECT_EQ(rp.api_base(), "http://127.0.0.1:" + std::to_string(rp.port()) + "/v1");
    Reply r = api(rp, "POST", "/orders", {{"amount", 50000}, {"currency", "INR"}, {"receipt", "oms-42"}});
    ASSERT_EQ(r.status, 200) << r.body;
    std::string id = r.body["id"];
    EXPECT_TRUE(std::regex_match(id, std::regex("order_[A-Za-z0-9]{14}")));
    EXPECT_EQ(r.body["entity"], "order");
    EXPECT_EQ(r.body["amount_due"], 50000);
    EXPECT_EQ(r.body["amount_paid"], 0);
    EXPECT_EQ(r.body["status"], "created");
    EXPECT_EQ(r.body["notes"], json::array());  // empty notes are [] like Razorpay's
    EXPECT_TRUE(r.body["offer_id"].is_null());
    EXPECT_EQ(api(rp, "GET", "/orders/" + id).body, r.body);

    Reply jpy = api(rp, "POST", "/orders", {{"amount", 1000}, {"currency", "JPY"}, {"notes", {{"oms", "7"}}}});
    ASSERT_EQ(jpy.status, 200);
    EXPECT_EQ(jpy.body["notes"], json({{"oms", "7"}}));
    EXPECT_TRUE(jpy.body["receipt"].is_null());
    ASSERT_EQ(rp.orders().size(), 2u);
    EXPECT_EQ(rp.orders()[0]["id"], id);
    EXPECT_EQ(rp.calls()[0].method, "POST");
    EXPECT_EQ(rp.calls()[0].path, "/v1/orders");
}

TEST(FakeRazorpay, ValidatesOrderInput) {
    FakeRazorpay rp;
    auto post = [&](json b) { return api(rp, "POST", "/orders", b); };
    expect_error(post({{"amount", 99}, {"currency", "INR"}}), 400, "The amount must be at least INR 1.00", "amount");
    expect_error(post({{"currency", "INR"}}), 400, "The amount field is required.", "amount");
    expect_error(post({{"amount", 100.5}, {"currency", "INR"}}), 400, "The amount must be an integer.", "amount");
    expect_error(post({{"amount", 100}, {"currency", "XYZ"}}), 400, "The requested currency is not supported.", "currency");
    expect_error(post({{"amount", 100}, {"currency", "INR"}, {"receipt", std::string(41, 'r')}}), 400,
                 "The receipt may not be greater than 40 characters.", "receipt");
    json notes;
    for (int i = 0; i < 16; ++i) notes["k" + std::to_string(i)] = "v";
    expect_error(post({{"amount", 100}, {"currency", "INR"}, {"notes", notes}}), 400,
                 "Number of fields in notes should be less than or equal to 15", "notes");
    expect_error(post({{"amount", 100}, {"currency", "INR"}, {"reciept", "x"}}), 400,
                 "reciept is/are not required and should not be sent");
    EXPECT_TRUE(rp.orders().empty());
}

TEST(FakeRazorpay, UnknownIdsAndPaths) {
    FakeRazorpay rp;
    expect_error(api(rp, "GET", "/orders/order_AAAAAAAAAAAAAA"), 400, "The id provided does not exist");
    expect_error(api(rp, "GET", "/payments/pay_AAAAAAAAAAAAAA"), 400, "The id provided does not exist");
    expect_error(api(rp, "GET", "/refunds/rfnd_AAAAAAAAAAAAAA"), 400, "The id provided does not exist");
    expect_error(api(rp, "GET", "/nothing/here"), 404, "The requested URL was not found on the server.");
    EXPECT_THROW(rp.order("order_nope"), std::out_of_range);
    EXPECT_THROW(rp.authorize("order_nope"), std::out_of_range);
}

TEST(FakeRazorpay, PaymentStateMachine) {
    FakeRazorpay rp;
    std::string order = create_order(rp);
    std::string failed = rp.fail(order, "payment_cancelled");
    json f = api(rp, "GET", "/payments/" + failed).body;
    EXPECT_EQ(f["status"], "failed");
    EXPECT_EQ(f["error_reason"], "payment_cancelled");
    EXPECT_FALSE(f["error_code"].is_null());
    EXPECT_EQ(rp.order(order)["status"], "attempted");

    std::string pay = rp.authorize(order);
    EXPECT_TRUE(std::regex_match(pay, std::regex("pay_[A-Za-z0-9]{14}")));
    json p = api(rp, "GET", "/payments/" + pay).body;
    EXPECT_EQ(p["status"], "authorized");
    EXPECT_EQ(p["captured"], false);
    EXPECT_EQ(p["amount"], 50000);
    EXPECT_EQ(p["order_id"], order);
    EXPECT_EQ(p["vpa"], "success@razorpay");
    EXPECT_TRUE(p["error_code"].is_null());
    EXPECT_EQ(rp.order(order)["attempts"], 2);

    rp.capture(pay);
    json o = api(rp, "GET", "/orders/" + order).body;
    EXPECT_EQ(o["status"], "paid");
    EXPECT_EQ(o["amount_paid"], 50000);
    EXPECT_EQ(o["amount_due"], 0);
    EXPECT_THROW(rp.authorize(order), std::logic_error);  // no payments after paid
    EXPECT_THROW(rp.capture(pay), std::logic_error);

    rp.fail_to_captured(failed);  // late authorization: failed → captured, order stays paid
    EXPECT_EQ(rp.payment(failed)["status"], "captured");
    EXPECT_TRUE(rp.payment(failed)["error_code"].is_null());
    EXPECT_EQ(rp.order(order)["amount_paid"], 50000);

    json list = api(rp, "GET", "/orders/" + order + "/payments").body;
    EXPECT_EQ(list["entity"], "collection");
    EXPECT_EQ(list["count"], 2);
    EXPECT_EQ(list["items"][0]["id"], pay);  // newest first
    EXPECT_EQ(rp.payments_of(order).size(), 2u);
}

TEST(FakeRazorpay, CaptureRules) {
    FakeRazorpay rp;
    std::string pay = rp.authorize(create_order(rp), std::nullopt, "card");
    std::string path = "/payments/" + pay + "/capture";
    expect_error(api(rp, "POST", path, {{"amount", 40000}, {"currency", "INR"}}), 400,
                 "Capture amount must be equal to the amount authorized", "amount");
    Reply ok = api(rp, "POST", path, {{"amount", 50000}, {"currency", "INR"}});
    ASSERT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(ok.body["status"], "captured");
    EXPECT_EQ(ok.body["captured"], true);
    EXPECT_FALSE(ok.body["card_id"].is_null());
    EXPECT_FALSE(ok.body["fee"].is_null());
    expect_error(api(rp, "POST", path, {{"amount", 50000}, {"currency", "INR"}}), 400,
                 "This payment has already been captured");
    std::string failed = rp.fail(create_order(rp));
    expect_error(api(rp, "POST", "/payments/" + failed + "/capture", {{"amount", 50000}, {"currency", "INR"}}), 400,
                 "Only payments which have been authorized and not yet captured can be captured");
}

TEST(FakeRazorpay, RefundsPartialFullAndOverRefund) {
    FakeRazorpay rp;
    std::string uncaptured = rp.authorize(create_order(rp));
    expect_error(api(rp, "POST", "/payments/" + uncaptured + "/refund", json::object()), 400,
                 "The payment status should be captured for action to be taken");

    std::string pay = captured_payment(rp, 50000);
    std::string path = "/payments/" + pay + "/refund";
    Reply part = api(rp, "POST", path, {{"amount", 20000}, {"notes", {{"why", "damaged"}}}, {"receipt", "ret-1"}});
    ASSERT_EQ(part.status, 200) << part.body;
    EXPECT_TRUE(std::regex_match(part.body["id"].get<std::string>(), std::regex("rfnd_[A-Za-z0-9]{14}")));
    EXPECT_EQ(part.body["status"], "pending");
    EXPECT_EQ(part.body["payment_id"], pay);
    EXPECT_EQ(part.body["speed_processed"], "normal");
    EXPECT_TRUE(part.body["acquirer_data"]["arn"].is_null());
    json p = rp.payment(pay);
    EXPECT_EQ(p["amount_refunded"], 20000);
    EXPECT_EQ(p["refund_status"], "partial");
    EXPECT_EQ(p["status"], "captured");

    expect_error(api(rp, "POST", path, {{"amount", 30001}}), 400,
                 "The refund amount provided is greater than amount captured", "amount");
    Reply rest = api(rp, "POST", path, json::object());  // no amount = the remainder
    ASSERT_EQ(rest.status, 200) << rest.body;
    EXPECT_EQ(rest.body["amount"], 30000);
    p = rp.payment(pay);
    EXPECT_EQ(p["refund_status"], "full");
    EXPECT_EQ(p["status"], "refunded");
    expect_error(api(rp, "POST", path, {{"amount", 100}}), 400, "The payment has been fully refunded already");

    rp.process_refund(part.body["id"]);
    json fetched = api(rp, "GET", "/refunds/" + part.body["id"].get<std::string>()).body;
    EXPECT_EQ(fetched["status"], "processed");
    EXPECT_FALSE(fetched["acquirer_data"]["arn"].is_null());
    json list = api(rp, "GET", "/payments/" + pay + "/refunds").body;
    EXPECT_EQ(list["count"], 2);
    EXPECT_EQ(rp.refunds_of(pay).size(), 2u);
    EXPECT_EQ(rp.order(p["order_id"])["status"], "paid");  // stays paid after refunds

    rp.fail_refund(rest.body["id"]);  // a failed refund makes its amount refundable again
    EXPECT_EQ(rp.payment(pay)["amount_refunded"], 20000);
    EXPECT_EQ(rp.payment(pay)["status"], "captured");

    std::string refund = rp.auto_refund(uncaptured);
    EXPECT_EQ(rp.payment(uncaptured)["status"], "refunded");
    EXPECT_EQ(rp.payment(uncaptured)["captured"], false);
    EXPECT_EQ(rp.refund(refund)["amount"], 50000);
}

TEST(FakeRazorpay, RefundIdempotencyKey) {
    FakeRazorpay rp;
    std::string pay = captured_payment(rp);
    std::string path = "/payments/" + pay + "/refund";
    json body = {{"amount", 1000}, {"speed", "normal"}};
    expect_error(api(rp, "POST", path, body, std::nullopt, "short"), 400,
                 "The idempotency key must be 10 to 50 characters: letters, digits, _ or -", "X-Refund-Idempotency");
    EXPECT_EQ(api(rp, "POST", path, body, std::nullopt, "bad key with spaces").status, 400);
    EXPECT_EQ(api(rp, "POST", path, body, std::nullopt, std::string(51, 'k')).status, 400);
    EXPECT_TRUE(rp.refunds_of(pay).empty());

    Reply first = api(rp, "POST", path, body, std::nullopt, "oms-refund_0001");
    ASSERT_EQ(first.status, 200) << first.body;
    Reply again = api(rp, "POST", path, {{"speed", "normal"}, {"amount", 1000}}, std::nullopt, "oms-refund_0001");
    EXPECT_EQ(again.status, 200);
    EXPECT_EQ(again.body["id"], first.body["id"]);  // same key + same body: the same refund
    EXPECT_EQ(rp.refunds_of(pay).size(), 1u);
    expect_error(api(rp, "POST", path, {{"amount", 2000}}, std::nullopt, "oms-refund_0001"), 409,
                 "Different request with the same idempotency key has already been processed");
    EXPECT_EQ(rp.refunds_of(pay).size(), 1u);
    EXPECT_EQ(rp.payment(pay)["amount_refunded"], 1000);
    EXPECT_EQ(rp.calls().back().refund_idempotency, "oms-refund_0001");
}

TEST(FakeRazorpay, WebhooksAreSignedOverTheRawBody) {
    FakeRazorpay rp;
    Receiver hook;
    rp.set_webhook_url(hook.url());
    std::string pay = captured_payment(rp);

    omstest::WebhookDelivery d = rp.send("order.paid", pay);
    EXPECT_EQ(d.status, 200) << d.body;
    EXPECT_TRUE(std::regex_match(d.event_id, std::regex("evt_[A-Za-z0-9]{14}")));
    auto got = hook.got();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].body, d.raw);
    EXPECT_EQ(got[0].event_id, d.event_id);
    ASSERT_TRUE(got[0].signature);
    EXPECT_EQ(*got[0].signature, openssl_hmac(rp.options().webhook_secret, got[0].body));

    json ev = json::parse(got[0].body);
    EXPECT_EQ(ev["entity"], "event");
    EXPECT_EQ(ev["event"], "order.paid");
    EXPECT_EQ(ev["account_id"], rp.options().account_id);
    EXPECT_EQ(ev["contains"], json({"payment", "order"}));
    EXPECT_EQ(ev["payload"]["payment"]["entity"]["status"], "captured");
    EXPECT_EQ(ev["payload"]["order"]["entity"]["status"], "paid");

    std::string refund = api(rp, "POST", "/payments/" + pay + "/refund", json::object()).body["id"];
    rp.process_refund(refund);
    json re = rp.webhook_event("refund.processed", refund);
    EXPECT_EQ(re["contains"], json({"refund", "payment"}));
    EXPECT_EQ(re["payload"]["refund"]["entity"]["status"], "processed");
    EXPECT_EQ(re["payload"]["payment"]["entity"]["refund_status"], "full");
    EXPECT_EQ(rp.webhook_event("payment.captured", pay)["contains"], json({"payment"}));

    // The checkout signature, checked the same independent way.
    std::string order = rp.payment(pay)["order_id"];
    EXPECT_EQ(rp.checkout_signature(order, pay), openssl_hmac(rp.options().key_secret, order + "|" + pay));
}

TEST(FakeRazorpay, WebhookDuplicatesBadSignaturesAndFailures) {
    FakeRazorpay rp;
    Receiver hook;
    EXPECT_THROW(rp.send("payment.authorized", "pay_x"), std::out_of_range);
    std::string pay = rp.authorize(create_order(rp));
    EXPECT_THROW(rp.send("payment.authorized", pay), std::logic_error);  // no URL yet
    rp.set_webhook_url(hook.url());

    json ev = rp.webhook_event("payment.authorized", pay);
    EXPECT_EQ(rp.deliver(ev, "evt_Dup00000000001").status, 200);
    EXPECT_EQ(rp.deliver(ev, "evt_Dup00000000001").status, 200);  // an at-least-once retry
    rp.deliver_raw(R"({"event":"payment.captured"})", std::nullopt);
    rp.deliver_raw(R"({"event":"payment.captured"})", "deadbeef");
    auto got = hook.got();
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[0].event_id, "evt_Dup00000000001");
    EXPECT_EQ(got[1].event_id, got[0].event_id);
    EXPECT_EQ(got[1].body, got[0].body);
    EXPECT_EQ(got[1].signature, got[0].signature);
    EXPECT_FALSE(got[2].signature);
    EXPECT_NE(got[2].event_id, got[3].event_id);  // fresh ids when none given
    EXPECT_EQ(got[3].signature, "deadbeef");

    hook.status = 500;
    EXPECT_EQ(rp.send("payment.authorized", pay).status, 500);
    rp.set_webhook_url("http://127.0.0.1:1/payments/webhook");  // nothing listens on port 1
    EXPECT_EQ(rp.send("payment.authorized", pay).status, 0);
}

TEST(FakeRazorpay, FaultsDownOverrideFailNextAndLatency) {
    FakeRazorpay rp;
    std::string order = create_order(rp);
    rp.clear_calls();

    rp.set_down(true);
    EXPECT_THROW(api(rp, "GET", "/orders/" + order), Poco::Exception);  // closed, no response
    ASSERT_EQ(rp.calls().size(), 1u);
    EXPECT_EQ(rp.calls()[0].status, 0);
    rp.set_down(false);
    EXPECT_EQ(api(rp, "GET", "/orders/" + order).status, 200);

    rp.set_status_override(500);
    expect_error(api(rp, "GET", "/orders/" + order), 500,
                 "We are facing some trouble completing your request at the moment. Please try again shortly.");
    rp.set_status_override(429);
    EXPECT_EQ(api(rp, "GET", "/orders/" + order).status, 429);
    rp.set_status_override(0);

    rp.fail_next(2, 503);
    EXPECT_EQ(api(rp, "GET", "/orders/" + order).status, 503);
    EXPECT_EQ(api(rp, "GET", "/orders/" + order).status, 503);
    EXPECT_EQ(api(rp, "GET", "/orders/" + order).status, 200);
    rp.fail_next(1, 0);
    EXPECT_THROW(api(rp, "GET", "/orders/" + order), Poco::Exception);
    EXPECT_EQ(api(rp, "POST", "/orders", {{"amount", 100}, {"currency", "USD"}}).status, 200);

    rp.set_latency(std::chrono::milliseconds(300));
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(api(rp, "GET", "/orders/" + order).status, 200);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
}
