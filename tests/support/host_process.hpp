// Runs the real host binary (oms-host) as a child process for end-to-end tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace omstest {

class HostProcess {
public:
    struct RunResult {
        int exit_code = -1;  // WEXITSTATUS, 128+signal, or -1 on timeout
        std::string out;     // child's stdout
        std::string err;     // child's stderr
        bool timed_out = false;
    };

    // Path of the host binary: env OMS_HOST_BIN, else the compile definition
    // OMS_HOST_BIN_DEFAULT; throws std::runtime_error if neither is set.
    static std::string host_binary();

    // fork/exec `binary` (default: host_binary()) with `args` (argv[1..]).
    // Child environment: the parent's, overridden by `env`, plus
    // OMS_PORT_FILE=<unique temp file> and PORT=0 (unless `env` sets PORT).
    // stdin is /dev/null; stdout+stderr go to log_path(). The child gets
    // SIGKILL if the creating thread dies (PR_SET_PDEATHSIG). Throws if the
    // exec fails.
    explicit HostProcess(std::vector<std::string> args = {}, std::map<std::string, std::string> env = {},
                         std::string binary = {});
    // If still running: SIGTERM, wait up to 10 s, then SIGKILL and reap.
    // Prints the log to stderr when the child exited non-zero (other than by
    // a signal the test sent), had to be SIGKILLed, or OMS_TEST_VERBOSE is
    // set. Removes the port and log files unless OMS_TEST_KEEP_LOGS is set.
    ~HostProcess();
    HostProcess(const HostProcess&) = delete;
    HostProcess& operator=(const HostProcess&) = delete;

    // Polls for the port file (written by the host once it listens). False
    // if the child exited first or the timeout passed.
    bool wait_ready(std::chrono::milliseconds timeout = std::chrono::seconds(15));
    int port() const { return port_; }  // 0 until wait_ready() succeeded

    // Exit status (WEXITSTATUS, or 128+signal), or -1 on timeout.
    int wait_exit(std::chrono::milliseconds timeout);
    // Exit status if it has exited (reaps), nullopt while running.
    std::optional<int> exit_code();
    void signal(int sig);  // no-op once reaped
    void kill9();          // SIGKILL (does not wait)
    bool running();
    pid_t pid() const { return pid_; }

    const std::string& log_path() const { return log_path_; }
    const std::string& port_file() const { return port_file_; }
    std::string log() const;  // current content of the log file
    const std::vector<std::string>& args() const { return args_; }

    // Runs `binary` (default: host_binary()) to completion with the parent's
    // environment overridden by `env`. stdout and stderr are captured
    // separately; `stdin_data` is fed to stdin, which is then closed. The
    // child runs in its own process group; on timeout that whole group is
    // SIGKILLed and exit_code is -1 (timed_out = true). Returns once the child
    // exited and its pipes hit EOF (at most ~200 ms later if a background
    // grandchild keeps them open).
    static RunResult run(std::vector<std::string> args, std::map<std::string, std::string> env = {},
                         std::chrono::milliseconds timeout = std::chrono::seconds(60), std::string stdin_data = "",
                         std::string binary = {});

private:
    bool reap(bool block);

    std::vector<std::string> args_;
    std::string binary_;
    std::string log_path_;
    std::string port_file_;
    pid_t pid_ = -1;
    int port_ = 0;
    std::optional<int> status_;  // set once reaped
    int last_signal_sent_ = 0;
};

}  // namespace omstest
