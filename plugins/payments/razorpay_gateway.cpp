// Razorpay's REST API over HTTPS (Poco NetSSL), or plain HTTP to a loopback
// fake in tests. One short-lived session per call: calls are rare (a few per
// order) and a fresh session never reuses a connection the gateway closed.
//
// Retries: only calls that cannot take money twice are retried, once, after a
// short pause — GETs, and refunds (X-Refund-Idempotency makes a repeat return
// the same refund). Creating an order and capturing are never retried: the
// caller's transaction rolls back and the client (or Razorpay's webhook
// retry) asks again.
#include <oms/bulkhead.hpp>
#include <oms/plugin.hpp>

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPBasicCredentials.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetSSL.h>
#include <Poco/StreamCopier.h>
#include <Poco/Timespan.h>

#include <cctype>
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <thread>

#include "gateway.hpp"

namespace payments {
namespace {

namespace net = Poco::Net;

struct Call {
    std::string method;
    std::string path;  // below the API base, e.g. "/orders"
    std::optional<oms::json> body;
    std::string refund_idempotency;
    bool retry_safe = false;
};

class RazorpayGateway : public Gateway {
public:
    explicit RazorpayGateway(const Settings& s)
        : settings_(s), base_(parse_api_base(s.api_base)),
          calls_("Razorpay", s.max_concurrent_calls, s.max_waiting_calls, std::chrono::seconds(1)) {
        if (base_.https) {
            net::initializeSSL();
            // STRICT: Poco's RELAXED mode skips the host-name check for
            // loopback peers; STRICT always checks it (and the chain).
            context_ = new net::Context(net::Context::TLS_CLIENT_USE, s.ca_file, net::Context::VERIFY_STRICT, 9,
                                        s.ca_file.empty());
        }
    }

    bool simulated() const override { return false; }
    std::string key_id() const override { return settings_.key_id; }

    oms::json create_order(int64_t amount, const std::string& currency, const std::string& receipt,
                           const oms::json& notes) override {
        return send({"POST", "/orders",
                     oms::json{{"amount", amount}, {"currency", currency}, {"receipt", receipt}, {"notes", notes}},
                     "", false});
    }
    oms::json fetch_order(const std::string& id) override { return send({"GET", "/orders/" + id, {}, "", true}); }
    oms::json fetch_payment(const std::string& id) override {
        return send({"GET", "/payments/" + id, {}, "", true});
    }
    oms::json capture_payment(const std::string& id, int64_t amount, const std::string& currency) override {
        return send({"POST", "/payments/" + id + "/capture", oms::json{{"amount", amount}, {"currency", currency}},
                     "", false});
    }
    oms::json refund_payment(const std::string& id, int64_t amount, const std::string& key,
                             const oms::json& notes) override {
        return send({"POST", "/payments/" + id + "/refund", oms::json{{"amount", amount}, {"notes", notes}}, key,
                     !key.empty()});
    }

private:
    // An id from a webhook or a client goes into a URL path: refuse anything
    // but Razorpay's id alphabet rather than escape it.
    static void check_path(const std::string& path) {
        for (char c : path)
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_'))
                throw oms::bad_request("invalid_gateway_id", "That is not a Razorpay id.");
    }

    oms::json send(const Call& call) {
        check_path(call.path);
        for (int attempt = 1;; ++attempt) {
            try {
                // Bounded: a hanging Razorpay holds at most these workers (503 busy beyond).
                return calls_.run([&] { return send_once(call); });
            } catch (const GatewayError& e) {
                bool transient = e.http_status() == 0 || e.http_status() == 429 || e.http_status() >= 500;
                oms::log::warn("razorpay " + call.method + " " + call.path + " failed (attempt " +
                               std::to_string(attempt) + "): " + e.detail());
                if (!call.retry_safe || !transient || attempt >= 2) throw;
                pause_before_retry();
            }
        }
    }

    static void pause_before_retry() {
        thread_local std::mt19937 rng{std::random_device{}()};
        std::uniform_int_distribution<int> jitter(100, 300);
        std::this_thread::sleep_for(std::chrono::milliseconds(jitter(rng)));
    }

    std::unique_ptr<net::HTTPClientSession> session() const {
        std::unique_ptr<net::HTTPClientSession> s;
        if (base_.https) s = std::make_unique<net::HTTPSClientSession>(base_.host, base_.port, context_);
        else s = std::make_unique<net::HTTPClientSession>(base_.host, base_.port);
        Poco::Timespan t(static_cast<Poco::Timespan::TimeDiff>(settings_.timeout_ms) * 1000);
        s->setTimeout(t, t, t);
        s->setKeepAlive(false);
        return s;
    }

    oms::json send_once(const Call& call) const {
        std::string body = call.body ? call.body->dump() : std::string();
        int status = 0;
        std::string answer;
        try {
            auto s = session();
            net::HTTPRequest req(call.method, base_.path + call.path, net::HTTPMessage::HTTP_1_1);
            net::HTTPBasicCredentials(settings_.key_id, settings_.key_secret).authenticate(req);
            req.set("Accept", "application/json");
            req.set("User-Agent", "oms-payments/1.0");
            if (!call.refund_idempotency.empty()) req.set("X-Refund-Idempotency", call.refund_idempotency);
            if (call.body) {
                req.setContentType("application/json");
                req.setContentLength(static_cast<std::streamsize>(body.size()));
            }
            std::ostream& out = s->sendRequest(req);
            out << body;
            net::HTTPResponse resp;
            std::istream& in = s->receiveResponse(resp);
            Poco::StreamCopier::copyToString(in, answer);
            status = static_cast<int>(resp.getStatus());
        } catch (const Poco::Exception& e) {
            throw GatewayError(0, "", e.displayText());
        } catch (const std::ios_base::failure& e) {
            throw GatewayError(0, "", e.what());
        }

        auto parsed = oms::json::parse(answer, nullptr, false);
        if (status >= 200 && status < 300) {
            if (!parsed.is_object()) throw GatewayError(status, "", "the answer is not a JSON object");
            return parsed;
        }
        const oms::json err = parsed.is_object() && parsed.contains("error") && parsed["error"].is_object()
                                  ? parsed["error"]
                                  : oms::json::object();
        auto text = [&](const char* key) {
            auto it = err.find(key);
            return it != err.end() && it->is_string() ? it->get<std::string>() : std::string();
        };
        std::string description = text("description");
        if (description.empty()) description = "no error description";
        throw GatewayError(status, text("code"), description, text("reason"), text("field"));
    }

    Settings settings_;
    ApiBase base_;
    oms::Bulkhead calls_;
    net::Context::Ptr context_;
};

}  // namespace

std::unique_ptr<Gateway> make_razorpay_gateway(const Settings& settings) {
    return std::make_unique<RazorpayGateway>(settings);
}

}  // namespace payments
