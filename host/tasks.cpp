#include "tasks.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "contracts.hpp"
#include "db.hpp"
#include "runtime.hpp"

namespace oms::host {
namespace {

// The claim: the oldest due task this host can run, leased by moving its
// run_at to the lease's end (SKIP LOCKED: hosts claiming at once take
// different rows). One autocommitted statement: nothing stays locked.
constexpr const char* kClaim =
    "UPDATE oms_tasks t SET attempts = t.attempts + 1, run_at = now() + make_interval(secs => $2::int) "
    "FROM (SELECT c.id FROM oms_tasks c "
    "      WHERE c.state = 'pending' AND c.run_at <= now() AND c.name = ANY(string_to_array($1, E'\\n')) "
    "        AND (c.ordering_key IS NULL OR NOT EXISTS ("  // an ordered task waits for the ones before it
    "             SELECT 1 FROM oms_tasks e WHERE e.ordering_key = c.ordering_key AND e.state = 'pending' "
    "               AND e.seq < c.seq)) "
    "      ORDER BY c.run_at, c.seq LIMIT 1 FOR UPDATE OF c SKIP LOCKED) due "
    "WHERE t.id = due.id "
    "RETURNING t.id::text, t.name, t.payload::text, t.attempts";

// Outcomes, fenced on the attempt: only the latest claim may record one.
constexpr const char* kDone =
    "UPDATE oms_tasks SET state = 'done', finished_at = now(), last_error = NULL "
    "WHERE id = $1::uuid AND attempts = $2::int AND state = 'pending'";
constexpr const char* kRetry =
    "UPDATE oms_tasks SET run_at = now() + make_interval(secs => $3::double precision), last_error = $4 "
    "WHERE id = $1::uuid AND attempts = $2::int AND state = 'pending'";
constexpr const char* kDead =
    "UPDATE oms_tasks SET state = 'dead', finished_at = now(), last_error = $3 "
    "WHERE id = $1::uuid AND attempts = $2::int AND state = 'pending'";
constexpr const char* kCleanUp =
    "DELETE FROM oms_tasks WHERE state = 'done' AND finished_at < now() - interval '7 days'";

std::string describe(const oms_error& err) {
    std::string s = std::to_string(err.status) + " " + err.code;
    if (!err.detail.empty()) s += ": " + err.detail;
    return s;
}

}  // namespace

TaskRunner::TaskRunner(Runtime& runtime, Options options) : runtime_(runtime), options_(options) {
    for (const auto& t : runtime_.tasks()) {
        if (!names_.empty()) names_ += '\n';
        names_ += t.name;
    }
}

TaskRunner::~TaskRunner() { stop(); }

void TaskRunner::start() {
    if (runtime_.tasks().empty() || options_.threads <= 0) return;
    for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { run(); });
}

void TaskRunner::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
}

void TaskRunner::wake() {
    {
        std::lock_guard lock(mu_);
        ++wakes_;
    }
    cv_.notify_one();
}

void TaskRunner::run() {
    uint64_t seen = 0;
    while (true) {
        {
            std::unique_lock lock(mu_);
            if (stopping_) return;
            seen = wakes_;
        }
        bool ran = false;
        try {
            clean_up();
            ran = run_one();
        } catch (const std::exception& e) {
            // The database is away: try again at the next poll.
            spdlog::warn("tasks: {}", e.what());
        }
        if (ran) continue;  // drain what is due before sleeping
        std::unique_lock lock(mu_);
        // Until the next poll, or the retry this host scheduled, whichever is first.
        auto until = std::chrono::steady_clock::now() + options_.poll;
        if (next_retry_ > std::chrono::steady_clock::now()) until = std::min(until, next_retry_);
        cv_.wait_until(lock, until, [&] { return stopping_ || wakes_ != seen; });
    }
}

bool TaskRunner::run_one() {
    std::string id, name, payload;
    int attempt = 0;
    {
        auto c = runtime_.database().acquire();
        auto r = c.query(kClaim, {names_, std::to_string(options_.lease.count())});
        if (r.rows() == 0) return false;
        id = r.value(0, 0);
        name = r.value(0, 1);
        payload = r.value(0, 2);
        attempt = std::stoi(std::string(r.value(0, 3)));
    }  // the connection goes back before the handler runs

    const TaskInfo* task = runtime_.find_task(name);
    oms_error err;
    int rc = OMS_FAIL;
    if (!task) {
        err.status = 500;
        err.code = "unknown_task";
    } else {
        oms_task t{{id.data(), id.size()}, {name.data(), name.size()}, {payload.data(), payload.size()},
                   static_cast<uint32_t>(attempt)};
        ActivePlugin active(task->owner);
        rc = task->handler(task->user_data, &t, &err);
        if (rc != OMS_OK && err.status == 0) err.status = 500;
    }

    auto c = runtime_.database().acquire();
    std::string attempt_text = std::to_string(attempt);
    if (rc == OMS_OK) {
        c.query(kDone, {id, attempt_text});
        counters_.done.fetch_add(1, std::memory_order_relaxed);
        return true;
    }
    int max_attempts = task && task->max_attempts ? static_cast<int>(task->max_attempts) : options_.max_attempts;
    bool retryable = err.status >= 500;
    if (!retryable || attempt >= max_attempts) {
        c.query(kDead, {id, attempt_text, describe(err)});
        counters_.dead.fetch_add(1, std::memory_order_relaxed);
        spdlog::error("task {} {} is dead after {} run(s): {}", name, id, attempt, describe(err));
        return true;
    }
    auto delay = options_.retry * (int64_t{1} << std::min(attempt - 1, 20));
    delay = std::min<std::chrono::milliseconds>(delay, options_.retry_max);
    c.query(kRetry, {id, attempt_text, std::to_string(delay.count() / 1000.0), describe(err)});
    {
        std::lock_guard lock(mu_);
        auto due = std::chrono::steady_clock::now() + delay;
        if (next_retry_ <= std::chrono::steady_clock::now() || due < next_retry_) next_retry_ = due;
    }
    counters_.retried.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("task {} {} failed (run {} of {}), again in {} ms: {}", name, id, attempt, max_attempts,
                 delay.count(), describe(err));
    return true;
}

void TaskRunner::clean_up() {
    auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(mu_);
        if (now < next_clean_up_) return;
        next_clean_up_ = now + std::chrono::hours(1);
    }
    runtime_.database().acquire().query(kCleanUp);
}

}  // namespace oms::host
