// oms/bulkhead.hpp — a bound on how many of the host's worker threads one
// kind of slow work may take at once: a call to another system (a payment
// gateway), a deliberately expensive computation (a password hash).
//
// Route handlers run on a fixed set of workers (OMS_WORKERS). Without a bound,
// a slow dependency or a flood of one kind of request ends with every worker
// waiting on it, and every other route answering 503. With one, at most
// `running` threads do the work and at most `waiting` more wait for a place
// (each for at most `max_wait`); anyone else is refused at once with 503
// `busy` and Retry-After: 1, and the other workers keep serving.
//
//   static oms::Bulkhead gateway_calls("razorpay", 2, 2, std::chrono::seconds(1));
//   auto entity = gateway_calls.run([&] { return client.post(...); });
//
// Header-only, no host call: usable from route handlers, tasks and jobs alike.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <utility>

#include "plugin.hpp"

namespace oms {

class Bulkhead {
public:
    Bulkhead(std::string name, int running, int waiting, std::chrono::milliseconds max_wait)
        : name_(std::move(name)), running_max_(running < 1 ? 1 : running), waiting_max_(waiting < 0 ? 0 : waiting),
          max_wait_(max_wait) {}
    Bulkhead(const Bulkhead&) = delete;
    Bulkhead& operator=(const Bulkhead&) = delete;

    // Runs `fn` once a place is free and returns what it returns; throws 503
    // `busy` (with Retry-After: 1) instead when none frees in time.
    template <class F>
    auto run(F&& fn) -> decltype(fn()) {
        Place place(*this);
        return fn();
    }

    int running() const {
        std::lock_guard lock(mu_);
        return running_;
    }

private:
    // Holds one running place for its lifetime.
    class Place {
    public:
        explicit Place(Bulkhead& b) : b_(b) { b_.enter(); }
        ~Place() { b_.leave(); }
        Place(const Place&) = delete;
        Place& operator=(const Place&) = delete;

    private:
        Bulkhead& b_;
    };

    void enter() {
        std::unique_lock lock(mu_);
        if (running_ < running_max_) {
            ++running_;
            return;
        }
        if (waiting_ >= waiting_max_) throw busy();
        ++waiting_;
        bool free = cv_.wait_for(lock, max_wait_, [&] { return running_ < running_max_; });
        --waiting_;
        if (!free) throw busy();
        ++running_;
    }
    void leave() {
        {
            std::lock_guard lock(mu_);
            --running_;
        }
        cv_.notify_one();
    }
    Error busy() const {
        return Error(503, "busy", "Too many " + name_ + " requests at once on this host; try again shortly.")
            .with_header("Retry-After", "1");
    }

    const std::string name_;
    const int running_max_, waiting_max_;
    const std::chrono::milliseconds max_wait_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    int running_ = 0, waiting_ = 0;
};

}  // namespace oms
