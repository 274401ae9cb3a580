// The fake Razorpay gateway: state, REST API, checkout controls and webhooks.
// One mutex guards all state; webhooks are posted outside it, because the
// receiving plugin may call back into this API while handling them.
#include "fake_razorpay.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/ThreadPool.h>
#include <Poco/URI.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace omstest {
namespace {

using json = nlohmann::json;
namespace net = Poco::Net;

int64_t now_unix() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string hmac_sha256_hex(const std::string& key, const std::string& data) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
    static const char* digits = "0123456789abcdef";
    std::string hex;
    for (unsigned int i = 0; i < len; ++i) {
        hex += digits[mac[i] >> 4];
        hex += digits[mac[i] & 0xf];
    }
    return hex;
}

std::string base64(const std::string& in) {
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

// An API failure; handlers throw it and the dispatcher turns it into a response.
struct ApiError {
    int status;
    json body;
};

json error_body(const std::string& code, const std::string& description, json field = nullptr,
                const std::string& reason = "NA") {
    bool validation = reason == "input_validation_failed";
    return {{"error",
             {{"code", code},
              {"description", description},
              {"field", std::move(field)},
              {"source", validation ? "business" : "NA"},
              {"step", validation ? "payment_initiation" : "NA"},
              {"reason", reason},
              {"metadata", json::object()}}}};
}

// A field's validation failure: Razorpay names the field and says input_validation_failed.
ApiError invalid(const std::string& field, const std::string& description) {
    return {400, error_body("BAD_REQUEST_ERROR", description, field, "input_validation_failed")};
}
ApiError bad_request(const std::string& description) {
    return {400, error_body("BAD_REQUEST_ERROR", description)};
}
ApiError no_such_id() { return bad_request("The id provided does not exist"); }

// The body Razorpay sends with a forced status (outage, throttling, ...).
json forced_error_body(int status) {
    if (status == 401) return error_body("BAD_REQUEST_ERROR", "The api key provided is invalid");
    if (status == 429) return error_body("BAD_REQUEST_ERROR", "Too many requests");
    if (status >= 500)
        return error_body("SERVER_ERROR",
                          "We are facing some trouble completing your request at the moment. "
                          "Please try again shortly.");
    return error_body("BAD_REQUEST_ERROR", "Forced error " + std::to_string(status));
}

// Razorpay sends [] for empty notes (a PHP empty array), an object otherwise.
json notes_json(const json& notes) { return notes.empty() ? json::array() : notes; }

void check_notes(const json& body) {
    if (!body.contains("notes")) return;
    const json& n = body["notes"];
    if (n.is_null() || (n.is_array() && n.empty())) return;  // lenient: null or [] = no notes
    if (!n.is_object()) throw invalid("notes", "The notes must be an array.");
    if (n.size() > 15) throw invalid("notes", "Number of fields in notes should be less than or equal to 15");
    for (const auto& [k, v] : n.items())
        if (!(v.is_string() || v.is_number() || v.is_boolean()) || (v.is_string() && v.get<std::string>().size() > 256))
            throw invalid("notes", "The notes." + k + " must be a string of at most 256 characters.");
}

void check_receipt(const json& body) {
    if (!body.contains("receipt") || body["receipt"].is_null()) return;
    if (!body["receipt"].is_string()) throw invalid("receipt", "The receipt must be a string.");
    if (body["receipt"].get<std::string>().size() > 40)
        throw invalid("receipt", "The receipt may not be greater than 40 characters.");
}

bool valid_idempotency_key(const std::string& key) {
    if (key.size() < 10 || key.size() > 50) return false;
    return std::all_of(key.begin(), key.end(),
                       [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; });
}

struct OrderState {
    std::string id, currency, status = "created";
    int64_t amount = 0, amount_paid = 0, created_at = 0;
    int attempts = 0;
    bool partial_payment = false;
    json receipt = nullptr, notes = json::object();
    std::vector<std::string> payment_ids;  // creation order
};

struct PaymentState {
    std::string id, order_id, currency, method, status = "created";
    int64_t amount = 0, amount_refunded = 0, created_at = 0;
    bool captured = false;
    json error = nullptr;  // {code, description, source, step, reason} once failed
    std::vector<std::string> refund_ids;
};

struct RefundState {
    std::string id, payment_id, currency, status = "pending", speed_requested = "normal";
    int64_t amount = 0, created_at = 0;
    json notes = json::object(), receipt = nullptr, arn = nullptr;
};

// A refund made with an X-Refund-Idempotency key: what was asked, what it made.
struct IdempotentRefund {
    std::string fingerprint, refund_id;
};

struct Response {
    int status;
    json body;
};

}  // namespace

struct FakeRazorpay::Impl {
    FakeRazorpayOptions opts;
    mutable std::mutex mu;
    std::map<std::string, OrderState> orders;
    std::vector<std::string> order_ids;  // creation order
    std::map<std::string, PaymentState> payments;
    std::map<std::string, RefundState> refunds;
    std::map<std::string, IdempotentRefund> idempotency;
    std::vector<Call> calls;
    bool down = false;
    int status_override = 0, fail_next_calls = 0, fail_next_status = 0;
    std::chrono::milliseconds latency{0};
    std::string webhook_url;
    std::mt19937_64 rng{std::random_device{}()};

    // Declared before the server so it outlives the server's connections.
    Poco::ThreadPool pool{2, 32};
    net::ServerSocket socket;
    std::unique_ptr<net::HTTPServer> server;

    std::string new_id(const std::string& prefix) {
        static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        std::uniform_int_distribution<size_t> pick(0, sizeof(alnum) - 2);
        std::string id = prefix;
        for (int i = 0; i < 14; ++i) id += alnum[pick(rng)];
        return id;
    }

    // --- lookups: control methods throw out_of_range, the API a 400 ---
    template <class Map>
    static auto& lookup(Map& map, const std::string& id, const char* what) {
        auto it = map.find(id);
        if (it == map.end()) throw std::out_of_range(std::string("fake razorpay: unknown ") + what + " " + id);
        return it->second;
    }
    template <class Map>
    static auto& api_lookup(Map& map, const std::string& id) {
        auto it = map.find(id);
        if (it == map.end()) throw no_such_id();
        return it->second;
    }

    // --- snapshots ---
    json order_json(const OrderState& o) const {
        return {{"id", o.id},          {"entity", "order"},       {"amount", o.amount},
                {"amount_paid", o.amount_paid}, {"amount_due", o.amount - o.amount_paid},
                {"currency", o.currency},       {"receipt", o.receipt}, {"offer_id", nullptr},
                {"status", o.status},           {"attempts", o.attempts}, {"notes", notes_json(o.notes)},
                {"created_at", o.created_at}};
    }

    json payment_json(const PaymentState& p) const {
        auto when = [&](const char* m, json v) { return p.method == m ? v : json(nullptr); };
        json refund_status = nullptr;
        if (p.amount_refunded > 0) refund_status = p.amount_refunded < p.amount ? "partial" : "full";
        // Razorpay charges its fee on capture: 2% here, with 18% GST on the fee.
        json fee = nullptr, tax = nullptr;
        if (p.captured) {
            fee = p.amount / 50;
            tax = p.amount / 50 * 18 / 100;
        }
        auto err = [&](const char* k) { return p.error.is_null() ? json(nullptr) : p.error[k]; };
        return {{"id", p.id}, {"entity", "payment"}, {"amount", p.amount}, {"currency", p.currency},
                {"status", p.status}, {"order_id", p.order_id}, {"invoice_id", nullptr},
                {"international", false}, {"method", p.method}, {"amount_refunded", p.amount_refunded},
                {"refund_status", refund_status}, {"captured", p.captured},
                {"description", "Fake checkout payment"},
                {"card_id", when("card", "card_" + p.id.substr(4))}, {"bank", when("netbanking", "HDFC")},
                {"wallet", when("wallet", "paytm")}, {"vpa", when("upi", "success@razorpay")},
                {"email", "void@razorpay.com"}, {"contact", "+919000090000"}, {"notes", json::array()},
                {"fee", fee}, {"tax", tax}, {"error_code", err("code")},
                {"error_description", err("description")}, {"error_source", err("source")},
                {"error_step", err("step")}, {"error_reason", err("reason")},
                {"acquirer_data", json::object()}, {"created_at", p.created_at}};
    }

    json refund_json(const RefundState& r) const {
        return {{"id", r.id}, {"entity", "refund"}, {"amount", r.amount}, {"currency", r.currency},
                {"payment_id", r.payment_id}, {"notes", notes_json(r.notes)}, {"receipt", r.receipt},
                {"acquirer_data", {{"arn", r.arn}}}, {"created_at", r.created_at}, {"batch_id", nullptr},
                {"status", r.status}, {"speed_requested", r.speed_requested}, {"speed_processed", "normal"}};
    }

    // Razorpay lists newest first.
    template <class Map, class ToJson>
    static json collection(const std::vector<std::string>& ids, const Map& map, ToJson to_json) {
        json items = json::array();
        for (auto it = ids.rbegin(); it != ids.rend(); ++it) items.push_back(to_json(map.at(*it)));
        return {{"entity", "collection"}, {"count", items.size()}, {"items", items}};
    }

    // --- state transitions shared by the API and the controls ---
    PaymentState& new_payment(OrderState& o, int64_t amount, const std::string& method) {
        if (o.status == "paid") throw std::logic_error("fake razorpay: order " + o.id + " is already paid");
        PaymentState p;
        p.id = new_id("pay_");
        p.order_id = o.id;
        p.currency = o.currency;
        p.method = method;
        p.amount = amount;
        p.created_at = now_unix();
        ++o.attempts;
        o.status = "attempted";
        o.payment_ids.push_back(p.id);
        return payments[p.id] = std::move(p);
    }

    void mark_captured(PaymentState& p) {
        p.status = "captured";
        p.captured = true;
        p.error = nullptr;
        OrderState& o = orders.at(p.order_id);
        // A late capture on an already paid order does not grow the order past its amount.
        o.amount_paid = std::min(o.amount, o.amount_paid + p.amount);
        if (o.amount_paid == o.amount) o.status = "paid";
    }

    void update_refund_status(PaymentState& p) {
        if (p.amount_refunded == p.amount) p.status = "refunded";
        else p.status = p.captured ? "captured" : "authorized";
    }

    RefundState& new_refund(PaymentState& p, int64_t amount, const json& body) {
        RefundState r;
        r.id = new_id("rfnd_");
        r.payment_id = p.id;
        r.currency = p.currency;
        r.amount = amount;
        r.created_at = now_unix();
        if (body.contains("notes") && body["notes"].is_object()) r.notes = body["notes"];
        if (body.contains("receipt")) r.receipt = body["receipt"];
        if (body.contains("speed")) r.speed_requested = body["speed"].get<std::string>();
        p.amount_refunded += amount;
        p.refund_ids.push_back(r.id);
        update_refund_status(p);
        return refunds[r.id] = std::move(r);
    }

    // --- REST API (called with mu held) ---
    Response create_order(const json& body) {
        static const std::set<std::string> known = {
            "amount", "currency", "receipt", "notes", "partial_payment", "first_payment_min_amount",
            "payment_capture", "unique_receipt", "method", "offer_id", "customer_id", "token",
            "bank_account", "transfers", "discount"};
        for (const auto& [k, v] : body.items())
            if (!known.count(k)) throw bad_request(k + " is/are not required and should not be sent");
        std::string currency = body.value("currency", json()).is_string() ? body["currency"].get<std::string>() : "INR";
        if (!body.contains("amount")) throw invalid("amount", "The amount field is required.");
        if (!body["amount"].is_number_integer()) throw invalid("amount", "The amount must be an integer.");
        if (body["amount"].get<int64_t>() < 100)
            throw invalid("amount", "The amount must be at least " + currency + " 1.00");
        if (!body.contains("currency")) throw invalid("currency", "The currency field is required.");
        static const std::set<std::string> currencies = {"INR", "USD", "EUR", "GBP", "SGD", "AED", "JPY"};
        if (!body["currency"].is_string() || !currencies.count(currency))
            throw invalid("currency", "The requested currency is not supported.");
        check_receipt(body);
        check_notes(body);
        if (body.contains("partial_payment") && !body["partial_payment"].is_boolean())
            throw invalid("partial_payment", "The partial payment field must be true or false.");

        OrderState o;
        o.id = new_id("order_");
        o.amount = body["amount"].get<int64_t>();
        o.currency = currency;
        o.receipt = body.value("receipt", json());
        if (body.contains("notes") && body["notes"].is_object()) o.notes = body["notes"];
        o.partial_payment = body.value("partial_payment", false);
        o.created_at = now_unix();
        order_ids.push_back(o.id);
        return {200, order_json(orders[o.id] = std::move(o))};
    }

    Response capture_payment(PaymentState& p, const json& body) {
        if (!body.contains("amount")) throw invalid("amount", "The amount field is required.");
        if (!body["amount"].is_number_integer()) throw invalid("amount", "The amount must be an integer.");
        if (body.contains("currency") && body["currency"] != p.currency)
            throw invalid("currency", "Currency should be same as payment currency");
        if (p.captured) throw bad_request("This payment has already been captured");
        if (p.status != "authorized")
            throw bad_request("Only payments which have been authorized and not yet captured can be captured");
        if (body["amount"].get<int64_t>() != p.amount)
            throw invalid("amount", "Capture amount must be equal to the amount authorized");
        mark_captured(p);
        return {200, payment_json(p)};
    }

    Response refund_payment(PaymentState& p, const json& body, const std::optional<std::string>& key,
                            const std::string& raw_body) {
        if (key) {
            if (!valid_idempotency_key(*key))
                throw invalid("X-Refund-Idempotency",
                              "The idempotency key must be 10 to 50 characters: letters, digits, _ or -");
            // Same key + same request replays; the body is compared as parsed JSON.
            std::string fingerprint = p.id + "\n" + (body.is_object() ? body.dump() : raw_body);
            auto it = idempotency.find(*key);
            if (it != idempotency.end()) {
                if (it->second.fingerprint != fingerprint)
                    throw ApiError{409, error_body("BAD_REQUEST_ERROR",
                                                   "Different request with the same idempotency key has "
                                                   "already been processed")};
                return {200, refund_json(refunds.at(it->second.refund_id))};
            }
            Response r = refund_payment(p, body, std::nullopt, raw_body);
            // Only a made refund is remembered: a refused request may be retried with its key.
            idempotency[*key] = {fingerprint, r.body["id"].get<std::string>()};
            return r;
        }
        if (body.contains("amount") && (!body["amount"].is_number_integer() || body["amount"].get<int64_t>() < 1))
            throw invalid("amount", "The amount must be a positive integer.");
        if (body.contains("speed") && body["speed"] != "normal" && body["speed"] != "optimum")
            throw invalid("speed", "The selected speed is invalid.");
        check_notes(body);
        check_receipt(body);
        if (p.captured && p.amount_refunded >= p.amount)
            throw bad_request("The payment has been fully refunded already");
        if (!p.captured) throw bad_request("The payment status should be captured for action to be taken");
        int64_t remaining = p.amount - p.amount_refunded;
        int64_t amount = body.value("amount", remaining);
        if (amount > remaining) throw invalid("amount", "The refund amount provided is greater than amount captured");
        return {200, refund_json(new_refund(p, amount, body))};
    }

    Response route(const std::string& method, const std::string& path, const std::string& raw_body,
                   const std::optional<std::string>& idempotency_key) {
        std::vector<std::string> seg;
        std::istringstream in(path);
        for (std::string s; std::getline(in, s, '/');)
            if (!s.empty()) seg.push_back(s);
        json body = json::object();
        if (method == "POST" && !raw_body.empty()) {
            body = json::parse(raw_body, nullptr, false);
            if (!body.is_object()) throw bad_request("The request body is not a valid JSON object");
        }
        auto is = [&](const char* m, std::initializer_list<const char*> shape) {
            if (method != m || seg.size() != shape.size()) return false;
            size_t i = 0;
            for (const char* part : shape) {
                if (*part != ':' && seg[i] != part) return false;
                ++i;
            }
            return true;
        };
        if (is("POST", {"v1", "orders"})) return create_order(body);
        if (is("GET", {"v1", "orders", ":id"})) return {200, order_json(api_lookup(orders, seg[2]))};
        if (is("GET", {"v1", "orders", ":id", "payments"}))
            return {200, collection(api_lookup(orders, seg[2]).payment_ids, payments,
                                    [&](const PaymentState& p) { return payment_json(p); })};
        if (is("GET", {"v1", "payments", ":id"})) return {200, payment_json(api_lookup(payments, seg[2]))};
        if (is("POST", {"v1", "payments", ":id", "capture"})) return capture_payment(api_lookup(payments, seg[2]), body);
        if (is("POST", {"v1", "payments", ":id", "refund"}))
            return refund_payment(api_lookup(payments, seg[2]), body, idempotency_key, raw_body);
        if (is("GET", {"v1", "payments", ":id", "refunds"}))
            return {200, collection(api_lookup(payments, seg[2]).refund_ids, refunds,
                                    [&](const RefundState& r) { return refund_json(r); })};
        if (is("GET", {"v1", "refunds", ":id"})) return {200, refund_json(api_lookup(refunds, seg[2]))};
        throw ApiError{404, error_body("BAD_REQUEST_ERROR", "The requested URL was not found on the server.")};
    }

    // The fault to apply to this call, if any: nullopt = none, 0 = drop the connection.
    std::optional<int> take_fault() {
        if (down) return 0;
        if (fail_next_calls > 0) {
            --fail_next_calls;
            return fail_next_status;
        }
        if (status_override) return status_override;
        return std::nullopt;
    }

    bool authorized(const std::string& header) const {
        return header == "Basic " + base64(opts.key_id + ":" + opts.key_secret);
    }
};

namespace {

class ApiHandler : public net::HTTPRequestHandler {
public:
    explicit ApiHandler(FakeRazorpay::Impl& impl) : impl_(impl) {}

    void handleRequest(net::HTTPServerRequest& req, net::HTTPServerResponse& resp) override {
        FakeRazorpay::Call call{req.getMethod(), req.getURI(), "", req.get("Authorization", ""),
                                req.get("X-Refund-Idempotency", ""), 0};
        Poco::StreamCopier::copyToString(req.stream(), call.body);
        std::optional<std::string> key;
        if (req.has("X-Refund-Idempotency")) key = call.refund_idempotency;

        std::optional<int> fault;
        std::chrono::milliseconds latency;
        {
            std::lock_guard lock(impl_.mu);
            fault = impl_.take_fault();
            latency = impl_.latency;
        }
        if (latency.count() > 0) std::this_thread::sleep_for(latency);
        if (fault == 0) return drop(req, resp, std::move(call));

        Response r = fault ? Response{*fault, forced_error_body(*fault)} : answer(call, key);
        call.status = r.status;
        record(std::move(call));
        std::string out = r.body.dump();
        resp.setStatus(static_cast<net::HTTPResponse::HTTPStatus>(r.status));
        resp.setContentType("application/json; charset=UTF-8");
        resp.setContentLength(static_cast<std::streamsize>(out.size()));
        resp.send() << out;
    }

private:
    Response answer(const FakeRazorpay::Call& call, const std::optional<std::string>& key) {
        std::lock_guard lock(impl_.mu);
        if (!impl_.authorized(call.authorization))
            return {401, error_body("BAD_REQUEST_ERROR", "The api key provided is invalid")};
        try {
            return impl_.route(call.method, Poco::URI(call.path).getPath(), call.body, key);
        } catch (const ApiError& e) {
            return {e.status, e.body};
        } catch (const std::exception& e) {  // a bug in the fake: say so instead of a bare 500
            return {500, error_body("SERVER_ERROR", std::string("fake razorpay: ") + e.what())};
        }
    }

    // Close without a byte of response, as a dead gateway or a cut connection would.
    void drop(net::HTTPServerRequest& req, net::HTTPServerResponse& resp, FakeRazorpay::Call call) {
        record(std::move(call));
        resp.setKeepAlive(false);  // ends the server's loop on this connection
        if (auto* impl = dynamic_cast<net::HTTPServerRequestImpl*>(&req)) {
            try {
                impl->socket().shutdown();
            } catch (const Poco::Exception&) {
            }
        }
    }

    void record(FakeRazorpay::Call call) {
        std::lock_guard lock(impl_.mu);
        impl_.calls.push_back(std::move(call));
    }

    FakeRazorpay::Impl& impl_;
};

class ApiHandlerFactory : public net::HTTPRequestHandlerFactory {
public:
    explicit ApiHandlerFactory(FakeRazorpay::Impl& impl) : impl_(impl) {}
    net::HTTPRequestHandler* createRequestHandler(const net::HTTPServerRequest&) override {
        return new ApiHandler(impl_);
    }

private:
    FakeRazorpay::Impl& impl_;
};

}  // namespace

// ---------------------------------------------------------------------------

FakeRazorpay::FakeRazorpay(FakeRazorpayOptions opts) : impl_(std::make_unique<Impl>()) {
    impl_->opts = std::move(opts);
    impl_->socket = net::ServerSocket(net::SocketAddress("127.0.0.1", 0));
    auto* params = new net::HTTPServerParams;
    params->setMaxThreads(32);
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Poco::Timespan(5, 0));
    params->setTimeout(Poco::Timespan(10, 0));
    impl_->server = std::make_unique<net::HTTPServer>(new ApiHandlerFactory(*impl_), impl_->pool,
                                                      impl_->socket, params);
    impl_->server->start();
}

FakeRazorpay::~FakeRazorpay() {
    impl_->server->stopAll(true);  // also cuts idle keep-alive connections
    impl_->server.reset();
    impl_->pool.joinAll();
}

int FakeRazorpay::port() const { return impl_->socket.address().port(); }
std::string FakeRazorpay::api_base() const { return "http://127.0.0.1:" + std::to_string(port()) + "/v1"; }
const FakeRazorpayOptions& FakeRazorpay::options() const { return impl_->opts; }
std::string FakeRazorpay::basic_authorization() const {
    return "Basic " + base64(impl_->opts.key_id + ":" + impl_->opts.key_secret);
}

void FakeRazorpay::set_webhook_url(std::string url) {
    std::lock_guard lock(impl_->mu);
    impl_->webhook_url = std::move(url);
}
void FakeRazorpay::set_down(bool down) {
    std::lock_guard lock(impl_->mu);
    impl_->down = down;
}
void FakeRazorpay::set_status_override(int status) {
    std::lock_guard lock(impl_->mu);
    impl_->status_override = status;
}
void FakeRazorpay::set_latency(std::chrono::milliseconds latency) {
    std::lock_guard lock(impl_->mu);
    impl_->latency = latency;
}
void FakeRazorpay::fail_next(int calls, int status) {
    std::lock_guard lock(impl_->mu);
    impl_->fail_next_calls = calls;
    impl_->fail_next_status = status;
}

// --- checkout controls -------------------------------------------------------

std::string FakeRazorpay::authorize(const std::string& gateway_order_id, std::optional<int64_t> amount,
                                    std::string method) {
    std::lock_guard lock(impl_->mu);
    OrderState& o = Impl::lookup(impl_->orders, gateway_order_id, "order");
    int64_t due = o.amount - o.amount_paid;
    int64_t amt = amount.value_or(due);
    // Razorpay refuses an amount differing from the order's unless it allows partial payment.
    if (o.partial_payment ? (amt < 1 || amt > due) : amt != due)
        throw std::logic_error("fake razorpay: amount " + std::to_string(amt) + " not payable on " + o.id);
    PaymentState& p = impl_->new_payment(o, amt, method);
    p.status = "authorized";
    return p.id;
}

void FakeRazorpay::capture(const std::string& payment_id) {
    std::lock_guard lock(impl_->mu);
    PaymentState& p = Impl::lookup(impl_->payments, payment_id, "payment");
    if (p.status != "authorized") throw std::logic_error("fake razorpay: " + p.id + " is " + p.status);
    impl_->mark_captured(p);
}

std::string FakeRazorpay::fail(const std::string& gateway_order_id, std::string reason) {
    std::lock_guard lock(impl_->mu);
    OrderState& o = Impl::lookup(impl_->orders, gateway_order_id, "order");
    PaymentState& p = impl_->new_payment(o, o.amount - o.amount_paid, "upi");
    p.status = "failed";
    p.error = {{"code", "BAD_REQUEST_ERROR"},
               {"description", "Payment failed because the customer cancelled or the bank declined it."},
               {"source", "customer"},
               {"step", "payment_authentication"},
               {"reason", reason}};
    return p.id;
}

void FakeRazorpay::fail_to_captured(const std::string& payment_id) {
    std::lock_guard lock(impl_->mu);
    PaymentState& p = Impl::lookup(impl_->payments, payment_id, "payment");
    if (p.status != "failed") throw std::logic_error("fake razorpay: " + p.id + " is " + p.status);
    impl_->mark_captured(p);
}

void FakeRazorpay::process_refund(const std::string& refund_id) {
    std::lock_guard lock(impl_->mu);
    RefundState& r = Impl::lookup(impl_->refunds, refund_id, "refund");
    if (r.status != "pending") throw std::logic_error("fake razorpay: " + r.id + " is " + r.status);
    r.status = "processed";
    r.arn = "ARN" + r.id.substr(5);  // the bank's reference appears once processed
}

void FakeRazorpay::fail_refund(const std::string& refund_id) {
    std::lock_guard lock(impl_->mu);
    RefundState& r = Impl::lookup(impl_->refunds, refund_id, "refund");
    if (r.status != "pending") throw std::logic_error("fake razorpay: " + r.id + " is " + r.status);
    r.status = "failed";
    PaymentState& p = impl_->payments.at(r.payment_id);
    p.amount_refunded -= r.amount;
    impl_->update_refund_status(p);
}

std::string FakeRazorpay::auto_refund(const std::string& payment_id) {
    std::lock_guard lock(impl_->mu);
    PaymentState& p = Impl::lookup(impl_->payments, payment_id, "payment");
    if (p.status != "authorized") throw std::logic_error("fake razorpay: " + p.id + " is " + p.status);
    return impl_->new_refund(p, p.amount, json::object()).id;
}

std::string FakeRazorpay::checkout_signature(const std::string& gateway_order_id,
                                             const std::string& payment_id) const {
    return hmac_sha256_hex(impl_->opts.key_secret, gateway_order_id + "|" + payment_id);
}

// --- webhooks -----------------------------------------------------------------

json FakeRazorpay::webhook_event(const std::string& event, const std::string& id) const {
    std::lock_guard lock(impl_->mu);
    json payload = json::object(), contains = json::array();
    auto add = [&](const char* name, json entity) {
        payload[name] = {{"entity", std::move(entity)}};
        contains.push_back(name);
    };
    bool refund_event = event.rfind("refund.", 0) == 0 ||
                        (event.rfind("payment.", 0) != 0 && event != "order.paid" && id.rfind("rfnd_", 0) == 0);
    if (refund_event) {
        const RefundState& r = Impl::lookup(impl_->refunds, id, "refund");
        add("refund", impl_->refund_json(r));
        add("payment", impl_->payment_json(impl_->payments.at(r.payment_id)));
    } else {
        const PaymentState& p = Impl::lookup(impl_->payments, id, "payment");
        add("payment", impl_->payment_json(p));
        if (event == "order.paid") add("order", impl_->order_json(impl_->orders.at(p.order_id)));
    }
    return {{"entity", "event"}, {"account_id", impl_->opts.account_id}, {"event", event},
            {"contains", contains}, {"payload", payload}, {"created_at", now_unix()}};
}

std::string FakeRazorpay::webhook_signature(const std::string& raw_body) const {
    return hmac_sha256_hex(impl_->opts.webhook_secret, raw_body);
}

WebhookDelivery FakeRazorpay::deliver(const json& event, std::string event_id) {
    std::string raw = event.dump();
    return deliver_raw(raw, webhook_signature(raw), std::move(event_id));
}

WebhookDelivery FakeRazorpay::deliver_raw(const std::string& raw_body, const std::optional<std::string>& signature,
                                          std::string event_id) {
    std::string url;
    {
        std::lock_guard lock(impl_->mu);
        url = impl_->webhook_url;
        if (event_id.empty()) event_id = impl_->new_id("evt_");
    }
    if (url.empty()) throw std::logic_error("fake razorpay: set_webhook_url first");
    WebhookDelivery d;
    d.event_id = event_id;
    d.raw = raw_body;
    try {
        Poco::URI uri(url);
        net::HTTPClientSession session(uri.getHost(), uri.getPort());
        session.setTimeout(Poco::Timespan(5, 0));  // Razorpay counts > 5 s as a failure
        net::HTTPRequest req(net::HTTPRequest::HTTP_POST, uri.getPathAndQuery(), net::HTTPMessage::HTTP_1_1);
        req.setContentType("application/json");
        req.setContentLength(static_cast<std::streamsize>(raw_body.size()));
        req.set("User-Agent", "Razorpay-Webhook/v1");
        req.set("X-Razorpay-Event-Id", event_id);
        if (signature) req.set("X-Razorpay-Signature", *signature);
        session.sendRequest(req) << raw_body;
        net::HTTPResponse resp;
        std::istream& in = session.receiveResponse(resp);
        Poco::StreamCopier::copyToString(in, d.body);
        d.status = static_cast<int>(resp.getStatus());
    } catch (const Poco::Exception& e) {
        d.status = 0;
        d.body = e.displayText();  // why it failed, for the test's message
    }
    return d;
}

WebhookDelivery FakeRazorpay::send(const std::string& event, const std::string& id, std::string event_id) {
    return deliver(webhook_event(event, id), std::move(event_id));
}

// --- inspection -----------------------------------------------------------------

json FakeRazorpay::order(const std::string& id) const {
    std::lock_guard lock(impl_->mu);
    return impl_->order_json(Impl::lookup(impl_->orders, id, "order"));
}
json FakeRazorpay::payment(const std::string& id) const {
    std::lock_guard lock(impl_->mu);
    return impl_->payment_json(Impl::lookup(impl_->payments, id, "payment"));
}
json FakeRazorpay::refund(const std::string& id) const {
    std::lock_guard lock(impl_->mu);
    return impl_->refund_json(Impl::lookup(impl_->refunds, id, "refund"));
}
std::vector<json> FakeRazorpay::orders() const {
    std::lock_guard lock(impl_->mu);
    std::vector<json> out;
    for (const auto& id : impl_->order_ids) out.push_back(impl_->order_json(impl_->orders.at(id)));
    return out;
}
std::vector<json> FakeRazorpay::refunds_of(const std::string& payment_id) const {
    std::lock_guard lock(impl_->mu);
    std::vector<json> out;
    for (const auto& id : Impl::lookup(impl_->payments, payment_id, "payment").refund_ids)
        out.push_back(impl_->refund_json(impl_->refunds.at(id)));
    return out;
}
std::vector<json> FakeRazorpay::payments_of(const std::string& gateway_order_id) const {
    std::lock_guard lock(impl_->mu);
    std::vector<json> out;
    for (const auto& id : Impl::lookup(impl_->orders, gateway_order_id, "order").payment_ids)
        out.push_back(impl_->payment_json(impl_->payments.at(id)));
    return out;
}
std::vector<FakeRazorpay::Call> FakeRazorpay::calls() const {
    std::lock_guard lock(impl_->mu);
    return impl_->calls;
}
void FakeRazorpay::clear_calls() {
    std::lock_guard lock(impl_->mu);
    impl_->calls.clear();
}

}  // namespace omstest
