#include "host_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <map>

extern char** environ;

namespace omstest {
namespace {

using clock_type = std::chrono::steady_clock;

std::atomic<unsigned> g_counter{0};

[[noreturn]] void throw_errno(const std::string& what, int err) {
    throw std::runtime_error("HostProcess: " + what + ": " + std::strerror(err));
}

bool env_set(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0';
}

std::string resolve_binary(const std::string& bin) {
    if (bin.empty()) throw std::runtime_error("HostProcess: empty binary path");
    if (bin.find('/') != std::string::npos) return bin;
    const char* path = std::getenv("PATH");
    std::stringstream ss(path ? path : "/usr/local/bin:/usr/bin:/bin");
    std::string dir;
    while (std::getline(ss, dir, ':')) {
        std::string cand = (dir.empty() ? std::string(".") : dir) + "/" + bin;
        if (::access(cand.c_str(), X_OK) == 0) return cand;
    }
    return bin;  // execve reports ENOENT
}

int decode_status(int st) {
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return 255;
}

void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

// Everything the child needs, built before fork() (no allocation after it).
struct ExecImage {
    std::string binary;
    std::vector<std::string> argv_s;
    std::vector<std::string> envp_s;
    std::vector<char*> argv;
    std::vector<char*> envp;

    ExecImage(const std::string& bin, const std::vector<std::string>& args,
              const std::map<std::string, std::string>& env) {
        binary = resolve_binary(bin);
        argv_s.push_back(bin);
        argv_s.insert(argv_s.end(), args.begin(), args.end());
        for (char** e = environ; e && *e; ++e) {
            std::string_view kv(*e);
            auto eq = kv.find('=');
            std::string key(kv.substr(0, eq));
            if (env.count(key)) continue;
            envp_s.emplace_back(kv);
        }
        for (const auto& [k, v] : env) envp_s.push_back(k + "=" + v);
        for (auto& s : argv_s) argv.push_back(s.data());
        argv.push_back(nullptr);
        for (auto& s : envp_s) envp.push_back(s.data());
        envp.push_back(nullptr);
    }
};

// fork + execve with fds 0/1/2 taken from in/out/err. Only async-signal-safe
// calls in the child. Throws if exec fails (reported through a CLOEXEC pipe).
pid_t spawn(ExecImage& img, int in_fd, int out_fd, int err_fd, bool new_group) {
    int errpipe[2];
    if (::pipe2(errpipe, O_CLOEXEC) < 0) throw_errno("pipe2", errno);
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
        int e = errno;
        ::close(errpipe[0]);
        ::close(errpipe[1]);
        throw_errno("fork", e);
    }
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(126);
        if (new_group) ::setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        // Ignored dispositions survive exec; handlers do not.
        for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) ::signal(s, SIG_DFL);
        // Move the target fds out of 0..2 first so the dup2s cannot clobber each other.
        int fds[3] = {in_fd, out_fd, err_fd};
        for (int& f : fds) {
            if (f >= 0 && f <= 2) {
                int nf = ::fcntl(f, F_DUPFD, 3);
                if (nf < 0) ::_exit(127);
                f = nf;
            }
        }
        for (int i = 0; i < 3; ++i) {
            if (fds[i] < 0) continue;
            if (::dup2(fds[i], i) < 0) ::_exit(127);
        }
        // Do not leak the test's sockets (HTTP connections, DB sessions) into the child.
        if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
            struct rlimit rl {};
            long max = (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
                           ? static_cast<long>(rl.rlim_cur)
                           : 65536;
            for (long fd = 3; fd < max; ++fd) ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
        }
        ::execve(img.binary.c_str(), img.argv.data(), img.envp.data());
        int e = errno;
        ssize_t w = ::write(errpipe[1], &e, sizeof e);
        (void)w;
        ::_exit(127);
    }
    if (new_group) ::setpgid(pid, pid);  // also in the parent: no race with a kill(-pid)
    ::close(errpipe[1]);
    int child_errno = 0;
    ssize_t n;
    do {
        n = ::read(errpipe[0], &child_errno, sizeof child_errno);
    } while (n < 0 && errno == EINTR);
    ::close(errpipe[0]);
    if (n == static_cast<ssize_t>(sizeof child_errno)) {
        int st;
        while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        throw std::runtime_error("HostProcess: cannot execute '" + img.binary + "': " + std::strerror(child_errno));
    }
    return pid;
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return {};
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

}  // namespace

std::string HostProcess::host_binary() {
    if (const char* b = std::getenv("OMS_HOST_BIN"); b && *b) return b;
#ifdef OMS_HOST_BIN_DEFAULT
    return OMS_HOST_BIN_DEFAULT;
#else
    throw std::runtime_error(
        "HostProcess: the host binary is unknown: set OMS_HOST_BIN (CTest does) or compile with "
        "OMS_HOST_BIN_DEFAULT");
#endif
}

HostProcess::HostProcess(std::vector<std::string> args, std::map<std::string, std::string> env, std::string binary)
    : args_(std::move(args)), binary_(binary.empty() ? host_binary() : std::move(binary)) {
    const unsigned n = g_counter.fetch_add(1);
    const std::string base = (std::filesystem::temp_directory_path() /
                              ("host-" + std::to_string(::getpid()) + "-" + std::to_string(n)))
                                 .string();
    log_path_ = base + ".log";
    port_file_ = base + ".port";
    ::unlink(port_file_.c_str());

    env["OMS_PORT_FILE"] = port_file_;
    if (!env.count("PORT")) env["PORT"] = "0";
    ExecImage img(binary_, args_, env);

    int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) throw_errno("open " + log_path_, errno);
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0) {
        int e = errno;
        ::close(log_fd);
        throw_errno("open /dev/null", e);
    }
    try {
        pid_ = spawn(img, null_fd, log_fd, log_fd, false);
    } catch (...) {
        ::close(log_fd);
        ::close(null_fd);
        ::unlink(log_path_.c_str());
        throw;
    }
    ::close(log_fd);
    ::close(null_fd);
    if (env_set("OMS_TEST_VERBOSE"))
        std::cerr << "[HostProcess] started pid " << pid_ << ": " << binary_ << " (log " << log_path_ << ")\n";
}

HostProcess::~HostProcess() {
    if (pid_ <= 0) return;
    bool forced = false;
    if (!reap(false)) {
        ::kill(pid_, SIGTERM);
        last_signal_sent_ = SIGTERM;
        if (wait_exit(std::chrono::seconds(10)) < 0) {
            ::kill(pid_, SIGKILL);
            last_signal_sent_ = SIGKILL;
            reap(true);
            forced = true;
        }
    }
    const int code = status_.value_or(-1);
    const bool by_our_signal = last_signal_sent_ != 0 && code == 128 + last_signal_sent_;
    if (env_set("OMS_TEST_VERBOSE") || forced || (code != 0 && !by_our_signal)) {
        std::cerr << "----- host pid " << pid_ << " exited " << code
                  << (forced ? " (SIGKILLed: it ignored SIGTERM for 10 s)" : "") << "; log " << log_path_
                  << " -----\n"
                  << log() << "\n----- end of host log -----" << std::endl;
    }
    ::unlink(port_file_.c_str());
    if (!env_set("OMS_TEST_KEEP_LOGS")) ::unlink(log_path_.c_str());
}

bool HostProcess::reap(bool block) {
    if (status_) return true;
    if (pid_ <= 0) return true;
    int st = 0;
    for (;;) {
        pid_t r = ::waitpid(pid_, &st, block ? 0 : WNOHANG);
        if (r == pid_) {
            status_ = decode_status(st);
            return true;
        }
        if (r == 0) return false;
        if (errno == EINTR) continue;
        status_ = 255;  // ECHILD: someone else reaped it (SIGCHLD ignored?)
        return true;
    }
}

bool HostProcess::running() { return !reap(false); }

std::optional<int> HostProcess::exit_code() {
    if (reap(false)) return status_;
    return std::nullopt;
}

int HostProcess::wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = clock_type::now() + timeout;
    auto nap = std::chrono::milliseconds(1);
    for (;;) {
        if (reap(false)) return *status_;
        if (clock_type::now() >= deadline) return -1;
        std::this_thread::sleep_for(nap);
        nap = std::min(nap * 2, std::chrono::milliseconds(20));
    }
}

void HostProcess::signal(int sig) {
    if (reap(false)) return;  // never signal a reaped (possibly reused) pid
    if (::kill(pid_, sig) == 0) last_signal_sent_ = sig;
}

void HostProcess::kill9() { signal(SIGKILL); }

std::string HostProcess::log() const { return read_file(log_path_); }

bool HostProcess::wait_ready(std::chrono::milliseconds timeout) {
    const auto deadline = clock_type::now() + timeout;
    for (;;) {
        std::string s = read_file(port_file_);
        if (!s.empty()) {
            try {
                std::size_t used = 0;
                int p = std::stoi(s, &used);
                std::string_view rest = std::string_view(s).substr(used);
                bool clean = std::all_of(rest.begin(), rest.end(),
                                         [](char c) { return c == '\n' || c == '\r' || c == ' ' || c == '\t'; });
                if (clean && p > 0 && p < 65536) {
                    port_ = p;
                    return true;
                }
            } catch (const std::exception&) {
            }
        }
        if (reap(false)) return false;
        if (clock_type::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

HostProcess::RunResult HostProcess::run(std::vector<std::string> args, std::map<std::string, std::string> env,
                                        std::chrono::milliseconds timeout, std::string stdin_data,
                                        std::string binary) {
    if (binary.empty()) binary = host_binary();
    ExecImage img(binary, args, env);

    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    auto close_all = [&] {
        for (int* p : {in, out, err}) {
            close_fd(p[0]);
            close_fd(p[1]);
        }
    };
    if (::pipe2(in, O_CLOEXEC) < 0 || ::pipe2(out, O_CLOEXEC) < 0 || ::pipe2(err, O_CLOEXEC) < 0) {
        int e = errno;
        close_all();
        throw_errno("pipe2", e);
    }
    pid_t pid;
    try {
        pid = spawn(img, in[0], out[1], err[1], true);
    } catch (...) {
        close_all();
        throw;
    }
    close_fd(in[0]);
    close_fd(out[1]);
    close_fd(err[1]);
    for (int fd : {in[1], out[0], err[0]}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);

    // Writing to a pipe whose reader is gone raises SIGPIPE in this thread:
    // block it for the duration and swallow any that we caused.
    sigset_t pipe_set, old_mask, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    ::sigpending(&pending);
    const bool sigpipe_was_pending = sigismember(&pending, SIGPIPE) == 1;
    ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);

    RunResult res;
    std::size_t written = 0;
    if (stdin_data.empty()) close_fd(in[1]);

    const auto deadline = clock_type::now() + timeout;
    std::optional<int> status;
    std::optional<clock_type::time_point> drain_until;  // after exit, wait briefly for EOF on the pipes
    auto try_reap = [&] {
        if (status) return;
        int st;
        pid_t r;
        do {
            r = ::waitpid(pid, &st, WNOHANG);
        } while (r < 0 && errno == EINTR);
        if (r == pid) status = decode_status(st);
        else if (r < 0) status = 255;
    };

    char buf[65536];
    for (;;) {
        pollfd pfds[3];
        int nfds = 0;
        int idx_in = -1, idx_out = -1, idx_err = -1;
        if (in[1] >= 0) { idx_in = nfds; pfds[nfds++] = {in[1], POLLOUT, 0}; }
        if (out[0] >= 0) { idx_out = nfds; pfds[nfds++] = {out[0], POLLIN, 0}; }
        if (err[0] >= 0) { idx_err = nfds; pfds[nfds++] = {err[0], POLLIN, 0}; }
        if (nfds == 0) break;

        const auto now = clock_type::now();
        if (now >= deadline) break;
        if (drain_until && now >= *drain_until) break;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
        int wait_ms = static_cast<int>(std::min<long long>(left + 1, 50));
        int r = ::poll(pfds, static_cast<nfds_t>(nfds), wait_ms);
        if (r < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (r == 0) {
            try_reap();
            if (status && !drain_until) drain_until = clock_type::now() + std::chrono::milliseconds(200);
            continue;
        }
        if (idx_in >= 0 && pfds[idx_in].revents) {
            if (pfds[idx_in].revents & (POLLERR | POLLHUP)) {
                close_fd(in[1]);
            } else {
                ssize_t n = ::write(in[1], stdin_data.data() + written,
                                    std::min<std::size_t>(stdin_data.size() - written, sizeof buf));
                if (n > 0) {
                    written += static_cast<std::size_t>(n);
                    if (written == stdin_data.size()) close_fd(in[1]);
                } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                    close_fd(in[1]);  // EPIPE: the child does not read stdin
                }
            }
        }
        for (auto [idx, fdp, sink] : {std::tuple{idx_out, &out[0], &res.out}, std::tuple{idx_err, &err[0], &res.err}}) {
            if (idx < 0 || !pfds[idx].revents) continue;
            ssize_t n = ::read(*fdp, buf, sizeof buf);
            if (n > 0) sink->append(buf, static_cast<std::size_t>(n));
            else if (n == 0 || (errno != EAGAIN && errno != EINTR)) close_fd(*fdp);
        }
    }
    close_all();

    // Wait for the exit (pipes are closed, so the child cannot block on us).
    while (!status) {
        try_reap();
        if (status) break;
        if (clock_type::now() >= deadline) {
            ::kill(-pid, SIGKILL);  // the whole process group: no orphaned grandchildren
            ::kill(pid, SIGKILL);
            int st;
            while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
            }
            res.timed_out = true;
            status = -1;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    res.exit_code = *status;

    if (!sigpipe_was_pending) {
        timespec zero{0, 0};
        while (::sigtimedwait(&pipe_set, nullptr, &zero) == SIGPIPE) {
        }
    }
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    return res;
}

}  // namespace omstest
