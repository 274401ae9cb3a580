// One libpq connection per serving host, outside the pool, that LISTENs on a
// channel and hands each notification's payload to a callback, on a thread of
// its own. It polls the socket with a short timeout, so stop() returns
// promptly. When the connection drops or cannot be made, it reports "down"
// and reconnects with back-off (100 ms doubling to 5 s); "up" is reported only
// once LISTEN is in place, so no notification sent after an "up" is missed.
//
// The URL is a parameter: LISTEN needs a real server session (not a
// transaction-pooling pgbouncer), so a direct URL may be given here.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace oms::host {

class NotifyListener {
public:
    struct Options {
        std::string url;                  // libpq URL or conninfo
        std::string channel;              // an SQL identifier: [a-z_][a-z0-9_]*
        std::string application_name;     // shown in pg_stat_activity
        std::chrono::milliseconds poll_interval{200};       // how often stop() is noticed
        std::chrono::milliseconds connect_timeout{5000};    // connect + LISTEN
        std::chrono::milliseconds backoff_min{100}, backoff_max{5000};
    };
    // Called on the listener's thread, for each notification on the channel.
    using OnNotify = std::function<void(std::string_view payload)>;
    // Called on the listener's thread: true once LISTEN is in place, false
    // when the connection is lost (or an attempt to make it failed).
    using OnState = std::function<void(bool listening)>;

    NotifyListener(Options options, OnNotify on_notify, OnState on_state);
    ~NotifyListener();  // stop()
    NotifyListener(const NotifyListener&) = delete;
    NotifyListener& operator=(const NotifyListener&) = delete;

    void start();
    void stop();  // joins; reports "down" if it was up

    bool connected() const { return connected_.load(); }

private:
    void run();
    // Sleeps up to `d`, or less when stop() is called; false when stopping.
    bool pause(std::chrono::milliseconds d);
    void set_state(bool up);

    Options options_;
    OnNotify on_notify_;
    OnState on_state_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> connected_{false};
    std::mutex mu_;
    std::condition_variable cv_;
};

}  // namespace oms::host
