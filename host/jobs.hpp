// Runs plugins' periodic jobs on one host thread while the host serves.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

namespace oms::host {

class Runtime;

class JobRunner {
public:
    explicit JobRunner(Runtime& runtime) : runtime_(runtime) {}
    ~JobRunner() { stop(); }
    void start();
    void stop();

private:
    void run();
    Runtime& runtime_;
    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool stopping_ = false;
};

}  // namespace oms::host
