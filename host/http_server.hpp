// The HTTP front: Pistache parses on its reactor threads, handlers run on a
// bounded worker pool and answer through the moved ResponseWriter.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

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

}  // namespace oms::host
