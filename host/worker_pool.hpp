// A fixed set of threads with a bounded queue. submit() refuses instead of
// queueing without limit, so overload turns into quick 503s, not latency.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace oms::host {

class WorkerPool {
public:
    WorkerPool(int threads, size_t max_queue, std::string name);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // False when the queue is full or the pool is stopping.
    bool submit(std::function<void()> task);
    // Finishes queued tasks, then joins the threads.
    void stop();
    size_t queued() const;
    int size() const { return static_cast<int>(threads_.size()); }

private:
    void run();

    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> queue_;
    size_t max_queue_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace oms::host
