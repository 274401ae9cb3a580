#include "http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ostream>
#include <stdexcept>

namespace omstest {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

bool has(const HeaderList& h, std::string_view name) {
    return std::any_of(h.begin(), h.end(), [&](const auto& kv) { return iequals(kv.first, name); });
}

[[noreturn]] void throw_errno(const std::string& what, int err) {
    throw std::runtime_error("HttpConnection: " + what + ": " + std::strerror(err));
}

std::string snippet(std::string_view s, std::size_t max = 2000) {
    if (s.size() <= max) return std::string(s);
    return std::string(s.substr(0, max)) + "...(" + std::to_string(s.size()) + " bytes)";
}

}  // namespace

// ---------------------------------------------------------------- HttpResponse

std::string HttpResponse::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

bool HttpResponse::has_header(std::string_view name) const { return has(headers, name); }

nlohmann::json HttpResponse::json() const {
    try {
        return nlohmann::json::parse(body);
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error("HttpResponse::json(): status " + std::to_string(status) +
                                 ", body is not JSON (" + e.what() + "): " + snippet(body));
    }
}

std::ostream& operator<<(std::ostream& os, const HttpResponse& r) {
    os << (r.version.empty() ? "HTTP/?" : r.version) << ' ' << r.status << ' ' << r.reason << '\n';
    for (const auto& [k, v] : r.headers) os << k << ": " << v << '\n';
    os << '\n' << snippet(r.body);
    return os;
}

// -------------------------------------------------------------- HttpConnection

HttpConnection::HttpConnection(int port, std::string host) : port_(port), host_(std::move(host)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw_errno("socket", errno);
    try {
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        set_timeout(timeout_);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        if (::inet_pton(AF_INET, host_.c_str(), &addr.sin_addr) != 1)
            throw std::runtime_error("HttpConnection: bad IPv4 address '" + host_ + "'");
        int rc;
        do {
            rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        } while (rc < 0 && errno == EINTR);
        if (rc < 0) throw_errno("connect to " + host_ + ":" + std::to_string(port), errno);
    } catch (...) {
        ::close(fd_);
        fd_ = -1;
        throw;
    }
}

HttpConnection::~HttpConnection() { close(); }

HttpConnection::HttpConnection(HttpConnection&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), port_(o.port_), host_(std::move(o.host_)),
      buf_(std::move(o.buf_)), eof_(o.eof_), timeout_(o.timeout_) {}

HttpConnection& HttpConnection::operator=(HttpConnection&& o) noexcept {
    if (this != &o) {
        close();
        fd_ = std::exchange(o.fd_, -1);
        port_ = o.port_;
        host_ = std::move(o.host_);
        buf_ = std::move(o.buf_);
        eof_ = o.eof_;
        timeout_ = o.timeout_;
    }
    return *this;
}

void HttpConnection::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

void HttpConnection::shutdown_write() {
    if (fd_ < 0) throw std::runtime_error("HttpConnection: not connected");
    if (::shutdown(fd_, SHUT_WR) < 0) throw_errno("shutdown", errno);
}

void HttpConnection::set_timeout(std::chrono::milliseconds timeout) {
    timeout_ = timeout;
    if (fd_ < 0) return;
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

int HttpConnection::local_port() const {
    if (fd_ < 0) return 0;
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) < 0) return 0;
    return ntohs(addr.sin_port);
}

bool HttpConnection::is_open() {
    if (fd_ < 0 || eof_) return false;
    return !peer_closed(0);
}

void HttpConnection::send_raw(std::string_view bytes) {
    if (fd_ < 0) throw std::runtime_error("HttpConnection: send on a closed connection");
    while (!bytes.empty()) {
        ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                throw std::runtime_error("HttpConnection: send timed out after " +
                                         std::to_string(timeout_.count()) + " ms");
            throw_errno("send", errno);
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

bool HttpConnection::fill() {
    if (fd_ < 0) throw std::runtime_error("HttpConnection: read on a closed connection");
    if (eof_) return false;
    char tmp[16384];
    for (;;) {
        ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n > 0) {
            buf_.append(tmp, static_cast<std::size_t>(n));
            return true;
        }
        if (n == 0) {
            eof_ = true;
            return false;
        }
        if (errno == EINTR) continue;
        if (errno == ECONNRESET) {
            eof_ = true;
            return false;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            throw std::runtime_error("HttpConnection: timed out after " + std::to_string(timeout_.count()) +
                                     " ms waiting for the server (have " + std::to_string(buf_.size()) +
                                     " unread bytes: " + snippet(buf_, 200) + ")");
        throw_errno("recv", errno);
    }
}

void HttpConnection::need(std::size_t n) {
    while (buf_.size() < n)
        if (!fill())
            throw std::runtime_error("HttpConnection: connection closed by the server after " +
                                     std::to_string(buf_.size()) + " of " + std::to_string(n) +
                                     " expected bytes");
}

std::string HttpConnection::read_line() {
    std::size_t scanned = 0;
    for (;;) {
        auto pos = buf_.find('\n', scanned);
        if (pos != std::string::npos) {
            std::string line = buf_.substr(0, pos);
            buf_.erase(0, pos + 1);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            return line;
        }
        scanned = buf_.size();
        if (!fill()) {
            if (buf_.empty())
                throw std::runtime_error("HttpConnection: connection closed by the server before a response");
            throw std::runtime_error("HttpConnection: connection closed by the server mid-line: " +
                                     snippet(buf_, 200));
        }
    }
}

bool HttpConnection::peer_closed(int timeout_ms) {
    if (fd_ < 0 || eof_) return true;
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + std::chrono::milliseconds(std::max(timeout_ms, 0));
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        if (left < 0) left = 0;
        pollfd p{fd_, static_cast<short>(POLLIN | POLLRDHUP), 0};
        int r = ::poll(&p, 1, static_cast<int>(left));
        if (r < 0) {
            if (errno == EINTR) continue;
            throw_errno("poll", errno);
        }
        if (r == 0) return false;
        char tmp[16384];
        ssize_t n = ::recv(fd_, tmp, sizeof tmp, MSG_DONTWAIT);
        if (n > 0) {
            buf_.append(tmp, static_cast<std::size_t>(n));
            continue;
        }
        if (n == 0) {
            eof_ = true;
            return true;
        }
        if (errno == ECONNRESET || errno == EPIPE) {
            eof_ = true;
            return true;
        }
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
            if (left == 0) return false;
            continue;
        }
        throw_errno("recv", errno);
    }
}

HttpResponse HttpConnection::read_response(bool no_body) {
    HttpResponse r;
    // Status line: "HTTP/1.1 200 OK" (reason may be empty or absent).
    std::string line = read_line();
    {
        auto sp1 = line.find(' ');
        if (sp1 == std::string::npos || line.compare(0, 5, "HTTP/") != 0)
            throw std::runtime_error("HttpConnection: bad status line: " + snippet(line, 200));
        r.version = line.substr(0, sp1);
        auto sp2 = line.find(' ', sp1 + 1);
        std::string code = line.substr(sp1 + 1, sp2 == std::string::npos ? std::string::npos : sp2 - sp1 - 1);
        if (code.size() != 3 || !std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }))
            throw std::runtime_error("HttpConnection: bad status line: " + snippet(line, 200));
        r.status = std::stoi(code);
        if (sp2 != std::string::npos) r.reason = line.substr(sp2 + 1);
    }
    for (;;) {
        line = read_line();
        if (line.empty()) break;
        auto colon = line.find(':');
        if (colon == std::string::npos)
            throw std::runtime_error("HttpConnection: bad header line: " + snippet(line, 200));
        r.headers.emplace_back(std::string(trim(std::string_view(line).substr(0, colon))),
                               std::string(trim(std::string_view(line).substr(colon + 1))));
    }

    if (no_body || (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304) return r;

    const std::string te = lower(r.header("Transfer-Encoding"));
    if (!te.empty() && te.find("chunked") != std::string::npos) {
        for (;;) {
            std::string size_line = read_line();
            auto semi = size_line.find(';');
            std::string hex(trim(std::string_view(size_line).substr(0, semi)));
            std::size_t used = 0;
            unsigned long long size = 0;
            try {
                size = std::stoull(hex, &used, 16);
            } catch (const std::exception&) {
                used = 0;
            }
            if (hex.empty() || used != hex.size())
                throw std::runtime_error("HttpConnection: bad chunk size line: " + snippet(size_line, 200));
            if (size == 0) {
                while (!read_line().empty()) {  // trailers
                }
                break;
            }
            need(size + 2);
            r.body.append(buf_, 0, size);
            if (buf_.compare(size, 2, "\r\n") != 0)
                throw std::runtime_error("HttpConnection: chunk not followed by CRLF");
            buf_.erase(0, size + 2);
        }
        return r;
    }

    if (r.has_header("Content-Length")) {
        const std::string cl = r.header("Content-Length");
        std::size_t used = 0;
        unsigned long long len = 0;
        try {
            len = std::stoull(cl, &used, 10);
        } catch (const std::exception&) {
            used = 0;
        }
        if (cl.empty() || used != cl.size() || cl[0] == '-')
            throw std::runtime_error("HttpConnection: bad Content-Length: " + cl);
        need(len);
        r.body = buf_.substr(0, len);
        buf_.erase(0, len);
        return r;
    }

    // Neither: the body runs until the server closes.
    while (fill()) {
    }
    r.body = std::move(buf_);
    buf_.clear();
    return r;
}

HttpResponse HttpConnection::request(std::string_view method, std::string_view target, std::string_view body,
                                     std::vector<std::pair<std::string, std::string>> headers,
                                     std::string_view version) {
    std::string req;
    req.reserve(256 + body.size());
    req.append(method).append(" ").append(target);
    if (!version.empty()) req.append(" ").append(version);
    req.append("\r\n");
    if (!has(headers, "Host")) req.append("Host: ").append(host_).append(":").append(std::to_string(port_)).append("\r\n");
    const bool wants_length = !body.empty() || iequals(method, "POST") || iequals(method, "PUT") ||
                              iequals(method, "PATCH");
    if (wants_length && !has(headers, "Content-Length") && !has(headers, "Transfer-Encoding"))
        req.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    for (const auto& [k, v] : headers) req.append(k).append(": ").append(v).append("\r\n");
    req.append("\r\n");
    req.append(body);
    send_raw(req);

    const bool head = iequals(method, "HEAD");
    for (;;) {
        HttpResponse r = read_response(head);
        if (r.status >= 100 && r.status < 200 && r.status != 101) continue;  // interim (100 Continue)
        return r;
    }
}

// ------------------------------------------------------------------ free helpers

HttpResponse http_request(int port, std::string_view method, std::string_view target, std::string_view body,
                          std::vector<std::pair<std::string, std::string>> headers) {
    HttpConnection c(port);
    return c.request(method, target, body, std::move(headers));
}

HttpResponse http_get(int port, std::string_view target, std::vector<std::pair<std::string, std::string>> headers) {
    return http_request(port, "GET", target, {}, std::move(headers));
}

HttpResponse http_post_json(int port, std::string_view target, const nlohmann::json& body,
                            std::vector<std::pair<std::string, std::string>> headers) {
    if (!has(headers, "Content-Type")) headers.emplace_back("Content-Type", "application/json");
    return http_request(port, "POST", target, body.dump(), std::move(headers));
}

}  // namespace omstest
