#include "jobs.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <vector>

#include "contracts.hpp"
#include "runtime.hpp"

namespace oms::host {

void JobRunner::start() {
    if (runtime_.jobs().empty()) return;
    thread_ = std::thread([this] { run(); });
}

void JobRunner::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void JobRunner::run() {
    using Clock = std::chrono::steady_clock;
    const auto& jobs = runtime_.jobs();
    std::vector<Clock::time_point> next(jobs.size());
    for (size_t i = 0; i < jobs.size(); ++i) next[i] = Clock::now() + jobs[i].interval;
    while (true) {
        size_t due = 0;
        for (size_t i = 1; i < jobs.size(); ++i)
            if (next[i] < next[due]) due = i;
        {
            std::unique_lock lock(mutex_);
            if (cv_.wait_until(lock, next[due], [&] { return stopping_; })) return;
        }
        const JobInfo& job = jobs[due];
        oms_error err;
        int rc;
        {
            ActivePlugin active(job.owner);
            rc = job.handler(job.user_data, &err);
        }
        if (rc != OMS_OK) spdlog::warn("job {}.{} failed: {} {}", job.plugin, job.name, err.code, err.detail);
        next[due] = Clock::now() + job.interval;
    }
}

}  // namespace oms::host
