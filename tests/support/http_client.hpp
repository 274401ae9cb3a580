// Minimal blocking HTTP/1.x client for tests that drive the real host over
// real sockets. Not a general-purpose client: it exists to let tests see
// exactly what goes over the wire (keep-alive, raw bytes, closes).
#pragma once

#include <chrono>
#include <iosfwd>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace omstest {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
    int status = 0;
    std::string reason;
    HeaderList headers;  // in wire order, names as sent by the server
    std::string body;    // de-chunked if the response was chunked
    std::string version; // e.g. "HTTP/1.1"

    // Value of the first header with this name (case-insensitive), "" if absent.
    std::string header(std::string_view name) const;
    bool has_header(std::string_view name) const;
    // Parses body as JSON; throws std::runtime_error (with status and body) if it is not JSON.
    nlohmann::json json() const;
};

// gtest prints values with operator<< : status line, headers and body.
std::ostream& operator<<(std::ostream& os, const HttpResponse& r);

// One TCP connection to 127.0.0.1:port. Blocking POSIX socket with TCP_NODELAY
// and 10 s send/receive timeouts. Every I/O error or timeout throws
// std::runtime_error. Move-only.
class HttpConnection {
public:
    explicit HttpConnection(int port, std::string host = "127.0.0.1");
    ~HttpConnection();
    HttpConnection(HttpConnection&& other) noexcept;
    HttpConnection& operator=(HttpConnection&& other) noexcept;
    HttpConnection(const HttpConnection&) = delete;
    HttpConnection& operator=(const HttpConnection&) = delete;

    // Writes one request and reads exactly one response (interim 1xx responses
    // other than 101 are skipped). Adds "Host: 127.0.0.1:<port>" unless given,
    // and Content-Length when the body is non-empty or the method is
    // POST/PUT/PATCH (unless Content-Length/Transfer-Encoding is given). Never
    // adds a Connection header. An empty `version` sends "METHOD target" only.
    HttpResponse request(std::string_view method, std::string_view target,
                         std::string_view body = {},
                         std::vector<std::pair<std::string, std::string>> headers = {},
                         std::string_view version = "HTTP/1.1");

    // Writes bytes as they are.
    void send_raw(std::string_view bytes);

    // Reads one response: status line, headers, then the body by
    // Content-Length, chunked, or until EOF if neither. `no_body` is for
    // answers to HEAD (1xx/204/304 never have a body).
    HttpResponse read_response(bool no_body = false);

    // True if the server closed the connection (EOF or ECONNRESET) within
    // timeout_ms; false if it is still open after it. Bytes that arrive
    // meanwhile are kept for read_response().
    bool peer_closed(int timeout_ms);

    // Local (ephemeral) port of this connection.
    int local_port() const;
    // Socket exists and no EOF/reset seen (checks without blocking).
    bool is_open();

    // Changes the send/receive timeout (default 10 s).
    void set_timeout(std::chrono::milliseconds timeout);
    // shutdown(SHUT_WR): half-close our side.
    void shutdown_write();
    // Closes the socket now (also done by the destructor).
    void close();

    int fd() const { return fd_; }
    int port() const { return port_; }

private:
    bool fill();  // recv more into buf_; false on EOF/reset
    std::string read_line();
    void need(std::size_t n);  // ensure buf_ holds at least n bytes

    int fd_ = -1;
    int port_ = 0;
    std::string host_;
    std::string buf_;
    bool eof_ = false;
    std::chrono::milliseconds timeout_{10000};
};

// Fresh connection per call; the response is read and the connection closed.
HttpResponse http_request(int port, std::string_view method, std::string_view target,
                          std::string_view body = {},
                          std::vector<std::pair<std::string, std::string>> headers = {});
HttpResponse http_get(int port, std::string_view target,
                      std::vector<std::pair<std::string, std::string>> headers = {});
// Adds "Content-Type: application/json" unless a Content-Type is given.
HttpResponse http_post_json(int port, std::string_view target, const nlohmann::json& body,
                            std::vector<std::pair<std::string, std::string>> headers = {});

}  // namespace omstest
