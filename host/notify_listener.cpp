#include "notify_listener.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <optional>

namespace oms::host {
namespace {

using Clock = std::chrono::steady_clock;

struct ConnDeleter {
    void operator()(PGconn* c) const { PQfinish(c); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;

// libpq's messages span lines ("...unexpectedly\n\tThis probably means..."): one log line each.
std::string one_line(const char* message) {
    std::string out;
    for (const char* p = message ? message : ""; *p; ++p) {
        bool space = *p == '\n' || *p == '\t' || *p == '\r' || *p == ' ';
        if (!space) out.push_back(*p);
        else if (!out.empty() && out.back() != ' ') out.push_back(' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

// Waits for `events` on `fd` for at most `timeout`; true when it is ready
// (or in error: the caller's libpq call will tell).
bool wait_socket(int fd, short events, std::chrono::milliseconds timeout) {
    if (fd < 0) return true;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, timeout.count())));
    return r > 0;
}

// libpq reports asynchronous errors (e.g. "terminating connection due to
// administrator command") through the notice processor, stderr by default.
void log_notice(void*, const char* message) { spdlog::warn("cache listener: {}", one_line(message)); }

}  // namespace

NotifyListener::NotifyListener(Options options, OnNotify on_notify, OnState on_state)
    : options_(std::move(options)), on_notify_(std::move(on_notify)), on_state_(std::move(on_state)) {}

NotifyListener::~NotifyListener() { stop(); }

void NotifyListener::start() {
    if (thread_.joinable()) return;
    stop_ = false;
    thread_ = std::thread([this] { run(); });
}

void NotifyListener::stop() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool NotifyListener::pause(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, d, [this] { return stop_.load(); });
}

void NotifyListener::set_state(bool up) {
    if (connected_.exchange(up) == up) return;  // only changes are reported
    try {
        if (on_state_) on_state_(up);
    } catch (const std::exception& e) {
        spdlog::error("cache listener: state callback failed: {}", e.what());
    }
}

void NotifyListener::run() {
    auto backoff = options_.backoff_min;
    auto last_warning = Clock::time_point::min();
    bool was_up = false;
    // One line per outage, then at most one a minute while it lasts.
    auto complain = [&](const std::string& why) {
        auto now = Clock::now();
        if (was_up || now - last_warning >= std::chrono::minutes(1)) {
            spdlog::warn("cache listener: {}; the caller cache is off until LISTEN is back (retrying)", why);
            last_warning = now;
        } else {
            spdlog::debug("cache listener: {}", why);
        }
        was_up = false;
    };

    while (!stop_) {
        // --- connect (non-blocking, so that stop() is noticed) ---
        auto deadline = Clock::now() + options_.connect_timeout;
        const char* keys[] = {"dbname", "application_name", "keepalives", "keepalives_idle", "keepalives_interval",
                              "keepalives_count", nullptr};
        const char* values[] = {options_.url.c_str(), options_.application_name.c_str(), "1", "10", "5", "3",
                                nullptr};
        Conn conn(PQconnectStartParams(keys, values, /*expand_dbname=*/1));
        std::optional<std::string> failure;
        if (!conn) {
            failure = "out of memory";
        } else if (PQstatus(conn.get()) == CONNECTION_BAD) {
            failure = "cannot connect: " + one_line(PQerrorMessage(conn.get()));
        } else {
            PostgresPollingStatusType st = PGRES_POLLING_WRITING;
            while (!stop_ && st != PGRES_POLLING_OK) {
                if (st == PGRES_POLLING_FAILED) {
                    failure = "cannot connect: " + one_line(PQerrorMessage(conn.get()));
                    break;
                }
                auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
                if (left.count() <= 0) {
                    failure = "cannot connect: timed out";
                    break;
                }
                if (wait_socket(PQsocket(conn.get()), st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                                std::min(left, options_.poll_interval)))
                    st = PQconnectPoll(conn.get());
            }
        }
        if (stop_) break;

        // --- LISTEN ---
        if (!failure) {
            PQsetNoticeProcessor(conn.get(), log_notice, nullptr);
            std::string sql = "LISTEN ";
            if (char* id = PQescapeIdentifier(conn.get(), options_.channel.data(), options_.channel.size())) {
                sql += id;
                PQfreemem(id);
            }
            if (!PQsendQuery(conn.get(), sql.c_str())) {
                failure = "LISTEN failed: " + one_line(PQerrorMessage(conn.get()));
            } else {
                bool done = false;
                while (!stop_ && !done && !failure) {
                    if (Clock::now() > deadline) {
                        failure = "LISTEN timed out";
                        break;
                    }
                    if (wait_socket(PQsocket(conn.get()), POLLIN, options_.poll_interval) &&
                        !PQconsumeInput(conn.get())) {
                        failure = "LISTEN failed: " + one_line(PQerrorMessage(conn.get()));
                        break;
                    }
                    while (!PQisBusy(conn.get())) {
                        PGresult* res = PQgetResult(conn.get());
                        if (!res) {
                            done = true;
                            break;
                        }
                        if (PQresultStatus(res) != PGRES_COMMAND_OK)
                            failure = "LISTEN failed: " + one_line(PQresultErrorMessage(res));
                        PQclear(res);
                    }
                }
            }
        }
        if (stop_) break;
        if (failure) {
            set_state(false);
            complain(*failure);
            if (!pause(backoff)) break;
            backoff = std::min(backoff * 2, options_.backoff_max);
            continue;
        }

        // --- listening ---
        set_state(true);
        was_up = true;
        backoff = options_.backoff_min;
        spdlog::info("cache listener: listening on {} as {}", options_.channel, options_.application_name);
        std::string lost;
        while (!stop_) {
            bool readable = wait_socket(PQsocket(conn.get()), POLLIN, options_.poll_interval);
            if (stop_) break;
            if (readable && !PQconsumeInput(conn.get())) {
                lost = one_line(PQerrorMessage(conn.get()));
                break;
            }
            while (PGnotify* n = PQnotifies(conn.get())) {
                std::string_view payload = n->extra ? std::string_view(n->extra) : std::string_view();
                try {
                    if (on_notify_) on_notify_(payload);
                } catch (const std::exception& e) {
                    spdlog::error("cache listener: handling a notification failed: {}", e.what());
                }
                PQfreemem(n);
            }
            if (PQstatus(conn.get()) == CONNECTION_BAD) {
                lost = one_line(PQerrorMessage(conn.get()));
                break;
            }
        }
        if (stop_) break;
        // Down first (the cache is flushed and off), then reconnect.
        set_state(false);
        complain("connection lost" + (lost.empty() ? std::string() : ": " + lost));
        if (!pause(options_.backoff_min)) break;
    }
    set_state(false);
}

}  // namespace oms::host
