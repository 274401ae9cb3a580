#include "http_server.hpp"

#include <nlohmann/json.hpp>
#include <openssl/rand.h>
#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>
#include <spdlog/spdlog.h>
#include <fmt/format.h>

#include <iterator>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <sstream>

#include "caller_cache.hpp"
#include "contracts.hpp"
#include "idempotency.hpp"
#include "metrics.hpp"
#include "migrate.hpp"
#include "rate_limit.hpp"
#include "runtime.hpp"
#include "worker_pool.hpp"

using namespace Pistache;

// Pistache's own Http::Handler::onInput (private in 0.0.5), called without
// virtual dispatch from RequestHandler::onInput below: the one way to look at
// a request's bytes before its parser does, short of patching the library.
// Itanium ABI: a member function is a function taking `this` first.
extern void pistache_http_handler_on_input(Pistache::Http::Handler* self, const char* buffer, size_t len,
                                           const std::shared_ptr<Pistache::Tcp::Peer>& peer)
    __asm__("_ZN8Pistache4Http7Handler7onInputEPKcmRKSt10shared_ptrINS_3Tcp4PeerEE");

namespace oms::host {
namespace {

const char* reason_phrase(int status) {
    switch (status) {
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 409: return "Conflict";
        case 413: return "Content Too Large";
        case 415: return "Unsupported Media Type";
        case 431: return "Request Header Fields Too Large";
        case 422: return "Unprocessable Content";
        case 429: return "Too Many Requests";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        default: return status < 500 ? "Client Error" : "Server Error";
    }
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// A client-supplied X-Request-Id is echoed only when it is short and plain.
bool acceptable_request_id(std::string_view id) {
    if (id.empty() || id.size() > 128) return false;
    for (char c : id)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    return true;
}

std::string new_request_id() {
    unsigned char b[16];
    RAND_bytes(b, sizeof b);
    b[6] = (b[6] & 0x0f) | 0x40;  // UUID v4
    b[8] = (b[8] & 0x3f) | 0x80;
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
        out.push_back(hex[b[i] >> 4]);
        out.push_back(hex[b[i] & 15]);
    }
    return out;
}

// nlohmann's DOM recursion is bounded only by the stack; refuse absurd nesting
// before anything parses the body.
bool nesting_within(std::string_view body, int max_depth) {
    int depth = 0;
    bool in_string = false, escaped = false;
    for (char c : body) {
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth) return false;
        } else if (c == '}' || c == ']') {
            --depth;
        }
    }
    return true;
}

bool is_json_content_type(const std::string* ct) {
    if (!ct) return false;
    std::string t = lower(*ct);
    t = t.substr(0, t.find(';'));
    while (!t.empty() && t.back() == ' ') t.pop_back();
    return t == "application/json" || (t.rfind("application/", 0) == 0 && t.size() > 5 &&
                                        t.compare(t.size() - 5, 5, "+json") == 0);
}

// `s` as a JSON string literal. Control characters and every byte above
// ASCII are escaped (\u00XX), so a log line stays one valid JSON line
// whatever a client put in its path.
void append_json_string(std::string& out, std::string_view s) {
    static const char* hex = "0123456789abcdef";
    out += '"';
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20 || c >= 0x7f) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += ch;
        }
    }
    out += '"';
}

int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string form_decode(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') out.push_back(' ');
        else if (s[i] == '%' && i + 2 < s.size() && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
            i += 2;
        } else out.push_back(s[i]);
    }
    return out;
}

}  // namespace

Reply problem(int status, std::string_view code, std::string_view detail, std::string_view request_id,
              const std::vector<std::pair<std::string, std::string>>& fields,
              const std::vector<std::pair<std::string, std::string>>& members) {
    nlohmann::json body = {{"type", "about:blank"},
                           {"title", reason_phrase(status)},
                           {"status", status},
                           {"code", code},
                           {"detail", detail},
                           {"request_id", request_id}};
    if (!fields.empty()) {
        auto& errors = body["errors"] = nlohmann::json::array();
        for (const auto& [f, m] : fields) errors.push_back({{"field", f}, {"message", m}});
    }
    for (const auto& [name, value] : members)
        if (!body.contains(name) && name != "errors" && name != "instance")
            body[name] = nlohmann::json::parse(value, nullptr, false);
    Reply r;
    r.status = status;
    r.content_type = "application/problem+json";
    r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return r;
}

namespace {

Reply unauthorized(const RequestContext& ctx, bool token_given) {
    Reply r = problem(401, "unauthorized",
                      token_given ? "The access token is invalid or expired." : "Authentication is required.",
                      ctx.request_id);
    r.headers.emplace_back("WWW-Authenticate", token_given ? "Bearer error=\"invalid_token\"" : "Bearer");
    return r;
}

Reply from_error(const RequestContext& ctx, const oms_error& err) {
    int status = err.status >= 400 && err.status <= 599 ? err.status : 500;
    std::string detail = err.detail;
    if (status == 500 && (err.code == "internal_error" || err.code.empty())) {
        // Exception text from inside a plugin is for the log, not for clients.
        spdlog::error("route {} {} of plugin {} failed: {}", ctx.method, ctx.route->path, ctx.route->plugin, err.detail);
        detail = "An internal error occurred.";
    }
    Reply r = problem(status, err.code.empty() ? "error" : err.code, detail, ctx.request_id, err.fields, err.members);
    for (const auto& h : err.headers) r.headers.push_back(h);
    if (status == 503) r.headers.emplace_back("Retry-After", "1");
    if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
}

// A valid signature proves who the token was issued to, not that the user
// still exists or still has that role. When a plugin offers the
// `oms.resolve_caller` capability (the users plugin does), it is asked inside
// the request's transaction; it answers the current {user_id, role} or
// fails with 401, which makes the request anonymous. Returns an error reply
// when the service fails otherwise.

// The Idempotency-Key claim of one request, made in the request's own
// transaction (see idempotency.hpp).
struct IdempotencyClaim {
    std::string scope, key, hash;
    std::shared_ptr<PendingResult> pending;  // the queued claim
    bool active() const { return pending != nullptr; }

    // A 400 for a malformed key; otherwise queues the claim when a key was sent.
    std::optional<Reply> begin(RequestContext& ctx) {
        const std::string* given = ctx.header("idempotency-key");
        if (!given) return std::nullopt;
        if (!IdempotencyStore::valid_key(*given))
            return problem(400, "invalid_idempotency_key",
                           "Idempotency-Key must be 1 to 255 visible ASCII characters.", ctx.request_id);
        std::string who = ctx.caller ? "user:" + ctx.caller->user_id : "anonymous";
        scope = who + " " + ctx.route->method + " " + ctx.route->path;
        key = *given;
        hash = sha256_hex(ctx.method + "\n" + ctx.path + "\n" + ctx.body);
        pending = IdempotencyStore::claim_later(*request_transaction(ctx).lease, scope, key);
        return std::nullopt;
    }

    // The answer to send instead of the handler's (replay, 422, 409), or nullopt
    // when this request holds the key. Waits for the claim if it is still queued.
    std::optional<Reply> decided(const RequestContext& ctx) {
        auto claim = IdempotencyStore::outcome(*pending, hash);
        switch (claim.kind) {
            case IdempotencyStore::Claim::Proceed: return std::nullopt;
            case IdempotencyStore::Claim::Replay: return std::move(claim.replay);
            case IdempotencyStore::Claim::BodyMismatch:
                return problem(422, "idempotency_key_reused",
                               "This Idempotency-Key was used with another request body.", ctx.request_id);
            case IdempotencyStore::Claim::InFlight: return in_flight(ctx);
        }
        return std::nullopt;
    }

    static Reply in_flight(const RequestContext& ctx) {
        Reply r = problem(409, "idempotency_key_in_use",
                          "A request with this Idempotency-Key is still being processed; retry shortly.",
                          ctx.request_id);
        r.headers.emplace_back("Retry-After", "1");
        return r;
    }
};

std::optional<Reply> resolve_caller(RequestContext& ctx) {
    const ServiceInfo* service = ctx.runtime->caller_resolver();
    if (!service || !ctx.caller) return std::nullopt;
    // The host's cache of the service's answers (caller_cache.hpp): a hit costs
    // no round trip; a miss asks the service and keeps its answer, unless an
    // invalidation arrived meanwhile (the ticket).
    CallerCache* cache = ctx.runtime->caller_cache();
    CallerCache::Ticket ticket;
    if (cache) {
        if (auto hit = cache->find(ctx.caller->user_id)) {
            if (!hit->exists) {
                ctx.caller.reset();
            } else {
                if (!hit->user_id.empty()) ctx.caller->user_id = std::move(hit->user_id);
                ctx.caller->role = std::move(hit->role);
            }
            return std::nullopt;
        }
        ticket = cache->ticket(ctx.caller->user_id);
    }
    std::string args = nlohmann::json{{"user_id", ctx.caller->user_id}, {"role", ctx.caller->role}}.dump();
    oms_buffer out;
    oms_error err;
    oms_tx& tx = request_transaction(ctx);
    int rc;
    {
        ActivePlugin active(service->owner);
        rc = service->handler(service->user_data, &tx, oms_str{args.data(), args.size()}, &out, &err);
    }
    if (rc != OMS_OK) {
        if (err.status == 401) {
            if (cache) cache->store(ctx.caller->user_id, CallerCache::Answer{false, {}, {}}, ticket);
            ctx.caller.reset();
            return std::nullopt;
        }
        ctx.tx.reset();  // rolls back
        return from_error(ctx, err);
    }
    auto who = nlohmann::json::parse(out.data, nullptr, false);
    if (!who.is_object() || !who.contains("user_id") || !who.contains("role") || !who["user_id"].is_string() ||
        !who["role"].is_string()) {
        spdlog::error("{} answered without user_id and role", service->name);
        ctx.tx.reset();
        return problem(500, "internal_error", "An internal error occurred.", ctx.request_id);
    }
    Principal resolved{who["user_id"].get<std::string>(), who["role"].get<std::string>()};
    if (cache) cache->store(ctx.caller->user_id, CallerCache::Answer{true, resolved.user_id, resolved.role}, ticket);
    ctx.caller = std::move(resolved);
    return std::nullopt;
}

}  // namespace

Reply run_route(RequestContext& ctx) {
    const RouteInfo& route = *ctx.route;
    try {
        if (!(route.flags & OMS_ROUTE_RAW_BODY) && !ctx.body.empty()) {
            if (!is_json_content_type(ctx.header("content-type")))
                return problem(415, "unsupported_media_type", "Send the body as application/json.", ctx.request_id);
            // The SDK parses the body (once) and answers 400 for malformed JSON;
            // nlohmann's parser recurses, so absurd nesting is refused before it.
            if (!nesting_within(ctx.body, 64))
                return problem(400, "malformed_json", "The body is not valid JSON.", ctx.request_id);
        }

        bool token_given = false;
        if (const std::string* auth = ctx.header("authorization")) {
            token_given = true;
            if (auth->size() > 7 && lower(auth->substr(0, 7)) == "bearer ")
                ctx.caller = ctx.runtime->tokens().verify(std::string_view(*auth).substr(7));
        }
        // Routes answered on a reactor thread never use the caller, and nothing
        // there may wait on the database: the token's claims stand unresolved.
        if (ctx.caller && !route.on_reactor) {
            set_current_request(&ctx);
            auto failed = resolve_caller(ctx);
            set_current_request(nullptr);
            if (failed) return *failed;
        }
        if (route.flags & OMS_ROUTE_AUTH) {
            if (!ctx.caller) return unauthorized(ctx, token_given);
            if (!route.role.empty() && ctx.caller->role != route.role)
                return problem(403, "forbidden", "This needs the " + route.role + " role.", ctx.request_id);
        }

        if (route.builtin) return route.builtin(ctx);

        IdempotencyClaim idempotency;
        if (route.flags & OMS_ROUTE_IDEMPOTENT) {
            if (auto early = idempotency.begin(ctx)) return std::move(*early);
        }

        oms_request req{&ctx};
        oms_response resp;
        oms_error err;
        set_current_request(&ctx);
        int rc;
        {
            ActivePlugin active(route.owner);
            rc = route.handler(route.user_data, &req, &resp, &err);
        }
        set_current_request(nullptr);
        // The claim decides first: a replay or another request's key wins over
        // whatever this run of the handler did (it is rolled back).
        if (idempotency.active()) {
            std::optional<Reply> decided;
            try {
                decided = idempotency.decided(ctx);
            } catch (const DbError&) {
                if (rc == OMS_OK) throw;
                // The claim could not be read (e.g. the connection failed under the
                // handler's statements too): the handler's own error stands.
            }
            if (decided) {
                ctx.tx.reset();  // rolls back
                return std::move(*decided);
            }
        }
        if (rc != OMS_OK) {
            ctx.tx.reset();  // rolls back
            return from_error(ctx, err);
        }
        if (idempotency.active()) {
            // In the request's transaction: the stored answer and the writes commit together.
            IdempotencyStore::complete_later(*request_transaction(ctx).lease, idempotency.scope, idempotency.key,
                                             idempotency.hash, resp.reply);
        }
        if (ctx.tx) {
            auto tx = std::move(ctx.tx);
            try {
                tx->lease->commit();
            } catch (const DbError& e) {
                // Another request stored this key first (it began while this one
                // ran): this one is rolled back; the retry replays that answer.
                if (idempotency.active() && IdempotencyStore::is_fence(e)) return IdempotencyClaim::in_flight(ctx);
                throw;
            }
            if (tx->enqueued_tasks) ctx.runtime->wake_tasks();
        }
        return std::move(resp.reply);
    } catch (const DbError& e) {
        set_current_request(nullptr);
        ctx.tx.reset();
        if (e.status >= 500) spdlog::error("request {}: database: {}", ctx.request_id, e.what());
        Reply r = problem(e.status, e.code, e.public_detail(), ctx.request_id);
        if (e.status == 503) r.headers.emplace_back("Retry-After", "1");
        return r;
    } catch (const std::exception& e) {
        set_current_request(nullptr);
        ctx.tx.reset();
        spdlog::error("request {}: {}", ctx.request_id, e.what());
        return problem(500, "internal_error", "An internal error occurred.", ctx.request_id);
    }
}

struct HttpServer::Core {
    Runtime& runtime;
    HttpServer::Options options;
    WorkerPool pool;
    std::atomic<int> in_flight{0};
    std::atomic<bool> draining{false};
    std::mutex idle_mutex;
    std::condition_variable idle_cv;
    std::shared_ptr<HttpMetrics> metrics;
    std::unique_ptr<RateLimiter> limiter;  // null when OMS_RATE_LIMIT_RPS is 0

    Core(Runtime& rt, HttpServer::Options o)
        : runtime(rt), options(o), pool(o.workers, o.queue_limit, "oms-worker"),
          metrics(std::make_shared<HttpMetrics>(rt.router())) {
        metrics->add_gauge("oms_http_requests_in_flight", "Requests received and not yet answered.",
                           [this] { return static_cast<double>(in_flight.load()); });
        metrics->add_gauge("oms_http_worker_queue_length", "Requests waiting for a worker thread.",
                           [this] { return static_cast<double>(pool.queued()); });
        metrics->add_gauge("oms_http_workers", "Worker threads running handlers (OMS_WORKERS).",
                           [this] { return static_cast<double>(pool.size()); });
        if (options.rate_limit.enabled()) {
            limiter = std::make_unique<RateLimiter>(RateLimiter::Options{
                static_cast<double>(options.rate_limit.rps), static_cast<double>(options.rate_limit.burst)});
            metrics->add_gauge("oms_rate_limit_clients", "Client addresses with a rate-limit bucket on this host.",
                               [this] { return static_cast<double>(limiter->clients()); });
        }
    }

    void finish() {
        if (--in_flight == 0) {
            std::lock_guard lock(idle_mutex);
            idle_cv.notify_all();
        }
    }
};

namespace {

using Clock = std::chrono::steady_clock;

// Pistache 0.0.5 never writes Collection::addRaw() headers to the wire; only
// typed headers are serialised. This one carries any name and value.
class OutHeader final : public Http::Header::Header {
public:
    OutHeader(std::string name, std::string value) : name_(std::move(name)), value_(std::move(value)) {}
    const char* name() const override { return name_.c_str(); }
    void write(std::ostream& os) const override { os << value_; }
    uint64_t hash() const override { return std::hash<std::string>{}(name_); }

private:
    std::string name_;
    std::string value_;
};

constexpr size_t kMaxHeaders = 100;
constexpr size_t kMaxHeaderBytes = 32 * 1024;

constexpr const char* kCorsAllowHeaders = "Authorization, Content-Type, Idempotency-Key, X-Request-Id";
constexpr const char* kCorsExposeHeaders = "X-Request-Id, Location, Retry-After, Idempotent-Replayed";

bool is_preflight(const RequestContext& ctx) { return !ctx.route && ctx.method == "OPTIONS"; }

// OPTIONS on a route's path while CORS is on: 204 with the path's methods;
// to an allowed origin's preflight also what it may send and for how long.
Reply preflight_reply(const HttpServer::Core& core, const RequestContext& ctx, const std::vector<std::string>& methods) {
    std::string list;
    for (const auto& m : methods) list += (list.empty() ? "" : ", ") + m;
    Reply r;
    r.status = 204;
    r.headers.emplace_back("Allow", list + ", OPTIONS");
    if (!ctx.cors_origin.empty() && ctx.header("access-control-request-method")) {
        r.headers.emplace_back("Access-Control-Allow-Methods", list);
        r.headers.emplace_back("Access-Control-Allow-Headers", kCorsAllowHeaders);
        r.headers.emplace_back("Access-Control-Max-Age", std::to_string(core.options.cors.max_age));
    }
    return r;
}

void send_reply(const std::shared_ptr<HttpServer::Core>& core, const std::shared_ptr<Http::ResponseWriter>& w,
                const RequestContext& ctx, Reply reply, bool keep_alive, Clock::time_point start) {
    try {
        auto elapsed = Clock::now() - start;
        core->metrics->observe(ctx.metrics_slot >= 0 ? ctx.metrics_slot : core->metrics->unmatched_slot(ctx.method),
                               reply.status, elapsed);
        if (core->options.cors.enabled()) {
            if (!ctx.cors_origin.empty()) {
                reply.headers.emplace_back("Access-Control-Allow-Origin", ctx.cors_origin);
                if (!is_preflight(ctx)) reply.headers.emplace_back("Access-Control-Expose-Headers", kCorsExposeHeaders);
            }
            // The answer depends on Origin: caches must keep one per origin.
            auto vary = std::find_if(reply.headers.begin(), reply.headers.end(),
                                     [](const auto& kv) { return lower(kv.first) == "vary"; });
            if (vary == reply.headers.end()) reply.headers.emplace_back("Vary", "Origin");
            else vary->second += ", Origin";
        }

        auto& h = w->headers();
        // Pistache 0.0.5 pre-sets "Connection: Close" whenever the request had no
        // Connection header, i.e. for every plain HTTP/1.1 request (RFC 9112 §9.3
        // says such a connection persists). Replace it with our decision.
        h.remove<Http::Header::Connection>();
        h.add<Http::Header::Connection>(keep_alive ? Http::ConnectionControl::KeepAlive
                                                   : Http::ConnectionControl::Close);
        h.add(std::make_shared<OutHeader>("X-Request-Id", ctx.request_id));
        if (!reply.content_type.empty()) h.add(std::make_shared<OutHeader>("Content-Type", reply.content_type));
        for (auto& [k, v] : reply.headers) h.add(std::make_shared<OutHeader>(k, v));

        // Built only when it is written (at LOG_LEVEL=warn this costs nothing),
        // straight into one buffer: no JSON document per request.
        if (spdlog::should_log(spdlog::level::info)) {
            double ms = std::chrono::duration<double, std::milli>(elapsed).count();
            std::string line;
            line.reserve(256);
            line += R"({"event":"access","request_id":)";
            append_json_string(line, ctx.request_id);
            line += R"(,"method":)";
            append_json_string(line, ctx.method);
            line += R"(,"path":)";
            append_json_string(line, ctx.path);
            line += R"(,"route":)";
            append_json_string(line, ctx.route ? std::string_view(ctx.route->path) : std::string_view());
            fmt::format_to(std::back_inserter(line), R"(,"status":{},"duration_ms":{:.3f},"remote":)", reply.status, ms);
            append_json_string(line, ctx.remote_address);
            if (ctx.caller) {
                line += R"(,"user_id":)";
                append_json_string(line, ctx.caller->user_id);
            }
            line += '}';
            spdlog::info(line);
        }

        w->send(static_cast<Http::Code>(reply.status), reply.body)
            .then(
                [core, w, keep_alive](ssize_t) {
                    if (!keep_alive)
                        if (auto peer = w->peer()) ::shutdown(peer->fd(), SHUT_WR);  // then the client closes
                    core->finish();
                },
                [core](std::exception_ptr) { core->finish(); });  // the client went away first
    } catch (const std::exception& e) {
        spdlog::warn("could not send a response: {}", e.what());
        core->finish();
    }
}

}  // namespace

std::optional<std::string> refused_request_head(std::string_view input) {
    // A request line: a token, a space, ... " HTTP/1.x" before the first CRLF.
    size_t eol = input.find("\r\n");
    if (eol == std::string_view::npos) return std::nullopt;
    std::string_view line = input.substr(0, eol);
    size_t sp = line.find(' ');
    if (sp == 0 || sp == std::string_view::npos || line.size() < 9 ||
        line.substr(line.size() - 8, 7) != "HTTP/1.")
        return std::nullopt;
    for (char c : line.substr(0, sp))
        if (!(c >= 'A' && c <= 'Z')) return std::nullopt;
    size_t end = input.find("\r\n\r\n");
    std::string_view head = input.substr(eol + 2, end == std::string_view::npos ? std::string_view::npos : end - eol);
    std::optional<std::string_view> length;
    while (!head.empty()) {
        size_t next = head.find("\r\n");
        std::string_view field = head.substr(0, next);
        head = next == std::string_view::npos ? std::string_view() : head.substr(next + 2);
        size_t colon = field.find(':');
        if (colon != 14) continue;  // strlen("content-length")
        std::string name(field.substr(0, colon));
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (name != "content-length") continue;
        std::string_view value = field.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
        bool digits = !value.empty() && value.size() <= 15 &&
                      std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (!digits) return "Content-Length must be a decimal number of bytes.";
        if (length && *length != value) return "The request has two different Content-Length headers.";
        length = value;
    }
    return std::nullopt;
}

namespace {

class RequestHandler : public Http::Handler {
public:
    HTTP_PROTOTYPE(RequestHandler)

    // Refuses a malformed request head with 400 and closes the connection,
    // instead of the parser's 500 with an exception's name (issue 13, item 12).
    void onInput(const char* buffer, size_t len, const std::shared_ptr<Tcp::Peer>& peer) override {
        static const std::string kRefused = "oms.refused";
        if (peer->tryGetData(kRefused)) return;  // the rest of a refused request
        if (auto why = refused_request_head(std::string_view(buffer, len))) {
            peer->putData(kRefused, std::make_shared<bool>(true));
            std::string body = problem(400, "bad_request", *why, new_request_id()).body;
            std::string raw = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/problem+json\r\n"
                              "Connection: close\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
            int fd = peer->fd();
            size_t size = raw.size();
            peer->send(Pistache::RawBuffer(std::move(raw), size))
                .then([fd](ssize_t) { ::shutdown(fd, SHUT_WR); }, [fd](std::exception_ptr) { ::shutdown(fd, SHUT_WR); });
            return;
        }
        pistache_http_handler_on_input(this, buffer, len, peer);
    }

    explicit RequestHandler(std::shared_ptr<HttpServer::Core> core) : core_(std::move(core)) {}

    void onRequest(const Http::Request& req, Http::ResponseWriter writer) override {
        auto start = Clock::now();
        auto w = std::make_shared<Http::ResponseWriter>(std::move(writer));
        auto ctx = std::make_shared<RequestContext>();
        ++core_->in_flight;
        bool keep_alive = false;
        try {
            ctx->runtime = &core_->runtime;
            ctx->method = Http::methodString(req.method());
            ctx->path = req.resource();
            std::ostringstream os;  // one stream for every typed header (constructing one is not cheap)
            for (const auto& h : req.headers().list()) {
                os.str({});
                h->write(os);
                ctx->headers.emplace_back(lower(h->name()), os.str());
            }
            for (const auto& [name, raw] : req.headers().rawList()) ctx->headers.emplace_back(lower(name), raw.value());
            size_t header_bytes = 0;
            for (const auto& [name, value] : ctx->headers) header_bytes += name.size() + value.size() + 4;
            for (auto it = req.query().parameters_begin(); it != req.query().parameters_end(); ++it)
                ctx->query.emplace_back(form_decode(it->first), form_decode(it->second));
            try {
                ctx->remote_address = req.address().host();
            } catch (...) {
            }
            // Behind a trusted proxy the client is who it forwarded for: the
            // rate limit, the login throttle and the access log use that address.
            if (core_->options.trusted_proxies.enabled())
                ctx->remote_address =
                    core_->options.trusted_proxies.client_address(ctx->remote_address, ctx->header("x-forwarded-for"));
            const std::string* rid = ctx->header("x-request-id");
            ctx->request_id = rid && acceptable_request_id(*rid) ? *rid : new_request_id();

            auto conn = req.headers().tryGet<Http::Header::Connection>();
            if (req.version() == Http::Version::Http11)
                keep_alive = !(conn && conn->control() == Http::ConnectionControl::Close);
            else
                keep_alive = conn && conn->control() == Http::ConnectionControl::KeepAlive;

            const CorsPolicy& cors = core_->options.cors;
            if (cors.enabled()) {
                const std::string* origin = ctx->header("origin");
                if (origin && cors.allows(*origin)) ctx->cors_origin = cors.any ? "*" : *origin;
            }

            // Pistache bounds only the whole request; nginx's defaults are about
            // these (large_client_header_buffers 4 8k). Nothing legitimate comes close.
            if (ctx->headers.size() > kMaxHeaders || header_bytes > kMaxHeaderBytes)
                return send_reply(core_, w, *ctx,
                                  problem(431, "headers_too_large",
                                          "At most " + std::to_string(kMaxHeaders) + " headers and " +
                                              std::to_string(kMaxHeaderBytes / 1024) + " KiB of them are accepted.",
                                          ctx->request_id),
                                  false, start);

            if (core_->draining) {
                Reply r = problem(503, "shutting_down", "This host is shutting down; retry.", ctx->request_id);
                r.headers.emplace_back("Retry-After", "1");
                return send_reply(core_, w, *ctx, std::move(r), false, start);
            }

            auto match = core_->runtime.router().match(ctx->method, ctx->path);
            if (match.target) ctx->metrics_slot = core_->metrics->route_slot(*match.target);

            if (core_->limiter && !(match.target && match.target->rate_limit_exempt)) {
                auto decision = core_->limiter->take(ctx->remote_address);
                if (!decision.allowed) {
                    Reply r = problem(429, "rate_limited",
                                      "Too many requests from this address; retry in " +
                                          std::to_string(decision.retry_after) + " s.",
                                      ctx->request_id);
                    r.headers.emplace_back("Retry-After", std::to_string(decision.retry_after));
                    return send_reply(core_, w, *ctx, std::move(r), keep_alive, start);
                }
            }

            if (!match.target && match.any && ctx->method == "OPTIONS" && cors.enabled()) {
                ctx->metrics_slot = core_->metrics->preflight_slot(*match.any);
                return send_reply(core_, w, *ctx, preflight_reply(*core_, *ctx, match.allowed), keep_alive, start);
            }

            if (!match.target) {
                if (!match.allowed.empty()) {
                    std::string allow;
                    for (const auto& m : match.allowed) allow += (allow.empty() ? "" : ", ") + m;
                    Reply r = problem(405, "method_not_allowed", ctx->method + " is not allowed here.",
                                      ctx->request_id);
                    r.headers.emplace_back("Allow", allow);
                    return send_reply(core_, w, *ctx, std::move(r), keep_alive, start);
                }
                return send_reply(core_, w, *ctx,
                                  problem(404, "not_found", "No route matches " + ctx->path + ".", ctx->request_id),
                                  keep_alive, start);
            }
            ctx->route = match.target;
            ctx->params = std::move(match.params);

            ctx->body = req.body();
            if (ctx->body.size() > core_->options.body_limit)
                return send_reply(core_, w, *ctx,
                                  problem(413, "body_too_large",
                                          "The body is larger than " + std::to_string(core_->options.body_limit) +
                                              " bytes.",
                                          ctx->request_id),
                                  false, start);

            if (ctx->route->on_reactor)
                return send_reply(core_, w, *ctx, run_route(*ctx), keep_alive, start);

            auto core = core_;
            bool queued = core_->pool.submit([core, w, ctx, keep_alive, start] {
                Reply r = run_route(*ctx);
                send_reply(core, w, *ctx, std::move(r), keep_alive, start);
            });
            if (!queued) {
                Reply r = problem(503, "overloaded", "The server is busy; retry shortly.", ctx->request_id);
                r.headers.emplace_back("Retry-After", "1");
                send_reply(core_, w, *ctx, std::move(r), keep_alive, start);
            }
        } catch (const std::exception& e) {
            spdlog::error("request {}: {}", ctx->request_id, e.what());
            send_reply(core_, w, *ctx, problem(500, "internal_error", "An internal error occurred.", ctx->request_id),
                       false, start);
        }
    }

private:
    std::shared_ptr<HttpServer::Core> core_;
};

}  // namespace

HttpServer::HttpServer(Runtime& runtime, Options options)
    : runtime_(runtime), options_(std::move(options)), core_(std::make_shared<Core>(runtime_, options_)) {
    runtime_.set_http_metrics(core_->metrics);
}

HttpServer::~HttpServer() {
    stop();
    runtime_.set_http_metrics(nullptr);  // its gauges read this server
}

void HttpServer::start() {
    Address addr(options_.address, Port(options_.port));
    endpoint_ = std::make_unique<Http::Endpoint>(addr);
    auto opts = Http::Endpoint::options()
                    .threads(options_.reactor_threads)
                    .flags(Tcp::Options::ReuseAddr | Tcp::Options::NoDelay)
                    .backlog(1024)
                    // Room for headers above the body limit; bodies over the limit get our 413.
                    .maxRequestSize(options_.body_limit + 64 * 1024)
                    .headerTimeout(std::chrono::seconds(10))
                    .bodyTimeout(std::chrono::seconds(30))
                    .keepaliveTimeout(std::chrono::seconds(60));
    endpoint_->init(opts);
    endpoint_->setHandler(Http::make_handler<RequestHandler>(core_));
    try {
        endpoint_->serveThreaded();
    } catch (const std::exception& e) {
        endpoint_.reset();
        throw std::runtime_error("cannot listen on " + options_.address + ":" + std::to_string(options_.port) + ": " +
                                 e.what());
    }
}

uint16_t HttpServer::port() const { return endpoint_ ? static_cast<uint16_t>(endpoint_->getPort()) : 0; }

void HttpServer::stop() {
    if (!endpoint_) return;
    core_->draining = true;
    {
        std::unique_lock lock(core_->idle_mutex);
        core_->idle_cv.wait_for(lock, options_.shutdown_timeout, [&] { return core_->in_flight.load() == 0; });
    }
    if (core_->in_flight > 0) spdlog::warn("shutdown: {} requests still in flight after the timeout", core_->in_flight.load());
    core_->pool.stop();
    endpoint_->shutdown();
    endpoint_.reset();
}

}  // namespace oms::host
