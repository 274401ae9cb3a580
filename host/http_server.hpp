// The HTTP front: Pistache parses on its reactor threads, handlers run on a
// bounded worker pool and answer through the moved ResponseWriter.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config.hpp"

namespace Pistache::Http {
class Endpoint;
}

namespace oms::host {

class Runtime;

class HttpServer {
public:
    struct Options {
        std::string address = "0.0.0.0";
        uint16_t port = 3000;
        int reactor_threads = 2;
        int workers = 8;
        size_t queue_limit = 512;
        size_t body_limit = 1 << 20;
        std::chrono::milliseconds shutdown_timeout{20000};
        CorsPolicy cors;             // off unless origins are given
        TrustedProxies trusted_proxies;  // whose X-Forwarded-For names the client (OMS_TRUSTED_PROXIES)
        RateLimitPolicy rate_limit;  // off unless rps > 0
    };

    HttpServer(Runtime& runtime, Options options);
    ~HttpServer();

    // The router must be complete: request metrics get a slot per route here.
    // Binds and starts serving; throws std::runtime_error naming the address
    // when it cannot listen.
    void start();
    uint16_t port() const;
    // Graceful stop: new requests get 503, in-flight ones finish (up to
    // shutdown_timeout), then the listener and the workers stop.
    void stop();

    struct Core;

private:
    Runtime& runtime_;
    Options options_;
    std::shared_ptr<Core> core_;
    std::unique_ptr<Pistache::Http::Endpoint> endpoint_;
};

// The request head at the start of `input` (a chunk read from a connection),
// checked for what Pistache 0.0.5's parser answers with a 500 or misreads: a
// Content-Length that is not 1*DIGIT of a sane size (-5, 2^64+1, "abc"), or
// two that disagree (a request-smuggling shape). Returns why it is refused,
// or nothing. Only a chunk that starts with a request line is looked at.
std::optional<std::string> refused_request_head(std::string_view input);

}  // namespace oms::host
