// Runs plugins' tasks (oms_task_def in <oms/abi.h>): the transactional outbox.
//
// A task row is stored by the transaction that decided on it (tx_enqueue_task)
// and runs after that transaction commits, on this host's task threads — or
// on any other serving host's, which find it by polling. Each run is claimed
// with a lease in one autocommitted statement, so nothing is held while the
// handler works (a gateway call may take its whole timeout); the handler opens
// its own transactions. The outcome is recorded by a second statement fenced
// on the attempt number: a run whose lease ran out and was re-claimed cannot
// overwrite the newer run's outcome.
//
//   handler OK               → done (kept 7 days, then deleted)
//   handler fails with 5xx   → due again after OMS_TASK_RETRY_MS × 2^(attempt-1)
//                              (at most 10 minutes), until max_attempts runs
//   handler fails otherwise,
//   or runs out of attempts  → dead, with its error, logged; `oms-host tasks`
//                              lists them and `oms-host tasks retry` revives one
//   the host dies mid-run    → due again when the lease ends (OMS_TASK_LEASE_S)
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace oms::host {

class Runtime;

struct TaskCounters {
    std::atomic<uint64_t> done{0}, retried{0}, dead{0};
};

class TaskRunner {
public:
    struct Options {
        int threads = 2;
        std::chrono::milliseconds poll{1000};
        std::chrono::milliseconds retry{1000};
        std::chrono::milliseconds retry_max{600000};
        std::chrono::seconds lease{120};
        int max_attempts = 25;
    };
    using Counters = TaskCounters;

    TaskRunner(Runtime& runtime, Options options);
    ~TaskRunner();  // stop()
    TaskRunner(const TaskRunner&) = delete;
    TaskRunner& operator=(const TaskRunner&) = delete;

    void start();  // no threads when no plugin registers a task, or threads == 0
    void stop();   // lets running handlers finish, then joins
    void wake();   // a transaction that enqueued tasks committed

    const Counters& counters() const { return counters_; }

private:
    void run();
    bool run_one();    // claims and runs one due task; false when none was due
    void clean_up();   // deletes done tasks past their keeping time (once an hour)

    Runtime& runtime_;
    Options options_;
    std::string names_;  // the registered task names, one per line (the claim's filter)
    std::vector<std::thread> threads_;
    std::mutex mu_;
    std::condition_variable cv_;
    uint64_t wakes_ = 0;
    bool stopping_ = false;
    std::chrono::steady_clock::time_point next_clean_up_{};
    std::chrono::steady_clock::time_point next_retry_{};  // the earliest retry this host scheduled
    Counters counters_;
};

}  // namespace oms::host
