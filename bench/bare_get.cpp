// The read ceiling: the least this stack (Pistache, libpq, OpenSSL) can do for
// GET /orders/:id and GET /orders, with nothing of OMS in front of it, so that
// bench/run.sh can compare the host's read endpoints against it in one run:
// one HMAC-SHA256 for the token, then ONE prepared statement, run synchronously
// on the reactor thread on that thread's own connection (no hand-off at all),
// and a body concatenated from the row (PostgreSQL builds the aggregates' JSON).
//   bare_get PORT DATABASE_URL JWT_SECRET [REACTOR_THREADS=2]
// Its statements are bench/sql/bare_get_order.sql and bare_list_orders.sql
// (ids by md5 there, parameters here): keep them in step.
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pistache/endpoint.h>
#include <pistache/http.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

using namespace Pistache;

namespace {

const char* kGetOrder =
    "SELECT o.id, o.customer_id, o.status, o.currency, o.total_amount, o.reservation_expires_at, o.created_at, "
    "o.updated_at, (SELECT coalesce(json_agg(json_build_object('line', i.line, 'product_id', i.product_id, 'sku', "
    "i.sku, 'name', i.name, 'quantity', i.quantity, 'unit_price', i.unit_price, 'line_total', i.line_total) ORDER BY "
    "i.line), '[]') FROM order_items i WHERE i.order_id = o.id) AS items, (SELECT coalesce(json_agg(json_build_object("
    "'from', h.from_status, 'to', h.to_status, 'actor', h.actor, 'reason', h.reason, 'at', h.created_at) ORDER BY "
    "h.id), '[]') FROM order_status_history h WHERE h.order_id = o.id) AS history, (SELECT coalesce(json_agg("
    "json_build_object('id', p.id, 'order_id', p.order_id, 'customer_id', p.customer_id, 'status', p.status, "
    "'amount', p.amount, 'currency', p.currency, 'gateway', p.gateway, 'gateway_order_id', p.gateway_order_id, "
    "'simulated', p.simulated, 'amount_captured', p.amount_captured, 'amount_refunded', p.amount_refunded, "
    "'created_at', p.created_at, 'updated_at', p.updated_at, 'attempts', (SELECT coalesce(json_agg(json_build_object("
    "'gateway_payment_id', a.gateway_payment_id, 'status', a.status, 'amount', a.amount, 'method', a.method, "
    "'accepted', a.accepted, 'outcome', a.outcome, 'error_code', a.error_code, 'error_description', "
    "a.error_description, 'error_reason', a.error_reason, 'created_at', a.created_at, 'captured_at', a.captured_at) "
    "ORDER BY a.created_at, a.gateway_payment_id), '[]') FROM payment_attempts a WHERE a.payment_id = p.id), "
    "'refunds', (SELECT coalesce(json_agg(json_build_object('id', f.id, 'payment_id', f.payment_id, "
    "'gateway_payment_id', f.gateway_payment_id, 'gateway_refund_id', f.gateway_refund_id, 'amount', f.amount, "
    "'currency', f.currency, 'status', f.status, 'reason', f.reason, 'automatic', f.automatic, 'created_at', "
    "f.created_at, 'processed_at', f.processed_at) ORDER BY f.created_at, f.id), '[]') FROM payment_refunds f WHERE "
    "f.payment_id = p.id)) ORDER BY p.created_at, p.id), '[]') FROM payments p WHERE p.order_id = o.id) AS payments "
    "FROM orders o WHERE o.id = $1::uuid AND o.customer_id = $2::uuid";
const char* kListOrders =
    "SELECT o.id, o.customer_id, o.status, o.currency, o.total_amount, o.reservation_expires_at, o.created_at, "
    "o.updated_at, (SELECT coalesce(json_agg(json_build_object('line', i.line, 'product_id', i.product_id, 'sku', "
    "i.sku, 'name', i.name, 'quantity', i.quantity, 'unit_price', i.unit_price, 'line_total', i.line_total) ORDER BY "
    "i.line), '[]') FROM order_items i WHERE i.order_id = o.id) AS items FROM orders o WHERE o.customer_id = "
    "$1::uuid ORDER BY o.created_at DESC, o.id DESC LIMIT 21";

std::string g_url, g_secret;

// base64url without padding (JWT, cursors), through OpenSSL's base64.
std::string base64url(const void* p, size_t n) {
    std::string out(4 * ((n + 2) / 3) + 1, '\0');
    out.resize(size_t(EVP_EncodeBlock((unsigned char*)out.data(), (const unsigned char*)p, int(n))));
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
    return out;
}

// The decoded bytes (and up to two trailing NULs); empty if not base64url.
std::string unbase64url(std::string in) {
    for (char& c : in) c = c == '-' ? '+' : c == '_' ? '/' : c;
    in.append((4 - in.size() % 4) % 4, '=');
    std::string out(in.size() / 4 * 3 + 1, '\0');
    int n = EVP_DecodeBlock((unsigned char*)out.data(), (const unsigned char*)in.data(), int(in.size()));
    out.resize(n < 0 ? 0 : size_t(n));
    return out;
}

// The caller's user id from "Bearer header.payload.signature" (HS256, as the host
// issues it): one HMAC over header.payload, compared in constant time (a valid
// signature means we issued it, so the header is not read); then exp and sub
// read straight out of the payload's JSON text. Empty when not valid.
std::string caller(const std::string& authorization) {
    if (authorization.compare(0, 7, "Bearer ") != 0) return {};
    size_t d1 = authorization.find('.', 7), d2 = authorization.rfind('.');
    if (d1 == std::string::npos || d2 == d1) return {};
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), g_secret.data(), int(g_secret.size()), (const unsigned char*)authorization.data() + 7, d2 - 7,
         mac, &len);
    std::string expected = base64url(mac, len);
    if (authorization.size() - d2 - 1 != expected.size() ||
        CRYPTO_memcmp(authorization.data() + d2 + 1, expected.data(), expected.size()) != 0)
        return {};
    std::string payload = unbase64url(authorization.substr(d1 + 1, d2 - d1 - 1));
    size_t exp = payload.find("\"exp\":"), sub = payload.find("\"sub\":\"");
    if (exp == std::string::npos || sub == std::string::npos || std::atoll(&payload[exp + 6]) <= std::time(nullptr))
        return {};
    return payload.substr(sub + 7, payload.find('"', sub + 7) - sub - 7);
}

// This reactor thread's connection with both statements prepared; null if the database is unreachable.
// Closed when the reactor thread ends (ep.shutdown() joins them).
PGconn* connection() {
    thread_local struct Owned {
        PGconn* c = nullptr;
        ~Owned() { PQfinish(c); }
    } owned;
    PGconn*& conn = owned.c;
    if (conn && PQstatus(conn) != CONNECTION_OK) PQfinish(conn), conn = nullptr;  // reconnect on the next request
    if (!conn) {
        conn = PQconnectdb(g_url.c_str());
        PQclear(PQexec(conn, "SET TimeZone = 'UTC'"));
        PQclear(PQprepare(conn, "get", kGetOrder, 2, nullptr));
        PQclear(PQprepare(conn, "list", kListOrders, 1, nullptr));
    }
    return PQstatus(conn) == CONNECTION_OK ? conn : nullptr;
}

// A column as JSON: null, or its text as a string ('s'), as is ('j': numbers and the JSON aggregates),
// or as an RFC 3339 string ('t': "2026-11-25 09:01:43.12+00" → "2026-11-25T09:01:43.12Z"; the session is UTC).
std::string col(PGresult* r, int row, int c, char kind = 's') {
    if (PQgetisnull(r, row, c)) return "null";
    std::string v = PQgetvalue(r, row, c);
    if (kind == 't' && v.size() > 13) v[10] = 'T', v.replace(v.size() - 3, 3, "Z");
    return kind == 'j' ? v : '"' + v + '"';
}

// The order's columns and items (columns 0-8 of both statements), without the closing brace.
std::string order_fields(PGresult* r, int row) {
    return "{\"id\":" + col(r, row, 0) + ",\"customer_id\":" + col(r, row, 1) + ",\"status\":" + col(r, row, 2) +
           ",\"currency\":" + col(r, row, 3) + ",\"total_amount\":" + col(r, row, 4, 'j') +
           ",\"reservation_expires_at\":" + col(r, row, 5, 't') + ",\"created_at\":" + col(r, row, 6, 't') +
           ",\"updated_at\":" + col(r, row, 7, 't') + ",\"items\":" + col(r, row, 8, 'j');
}

// {"data": the first 20 rows, "next_cursor": null, or {created_at, id} of the 20th as the host encodes it}.
std::string page(PGresult* r) {
    int n = PQntuples(r);
    std::string body = "{\"data\":[";
    for (int i = 0; i < n && i < 20; ++i) body += (i ? "," : "") + order_fields(r, i) + "}";
    if (n <= 20) return body + "],\"next_cursor\":null}";
    std::string key = "{\"created_at\":" + col(r, 19, 6, 't') + ",\"id\":" + col(r, 19, 0) + "}";
    return body + "],\"next_cursor\":\"" + base64url(key.data(), key.size()) + "\"}";
}

class BareGet : public Http::Handler {
public:
    HTTP_PROTOTYPE(BareGet)
    void onRequest(const Http::Request& req, Http::ResponseWriter w) override {
        // The host's keep-alive correction, as in bare_pistache.cpp.
        auto conn = req.headers().tryGet<Http::Header::Connection>();
        bool close = conn && conn->control() == Http::ConnectionControl::Close;
        w.headers().remove<Http::Header::Connection>();
        w.headers().add<Http::Header::Connection>(close ? Http::ConnectionControl::Close
                                                        : Http::ConnectionControl::KeepAlive);
        const std::string& path = req.resource();
        bool list = path == "/orders";
        std::string id = path.size() == 44 && path.compare(0, 8, "/orders/") == 0 ? path.substr(8) : "";
        if (req.method() != Http::Method::Get || (!list && id.empty())) return void(w.send(Http::Code::Not_Found));
        auto auth = req.headers().tryGet<Http::Header::Authorization>();
        std::string user = auth ? caller(auth->value()) : "";
        if (user.empty()) return void(w.send(Http::Code::Unauthorized));
        PGconn* db = connection();
        if (!db) return void(w.send(Http::Code::Service_Unavailable));

        const char* params[] = {list ? user.c_str() : id.c_str(), user.c_str()};
        PGresult* r = PQexecPrepared(db, list ? "list" : "get", list ? 1 : 2, params, nullptr, nullptr, 0);
        Http::Code code = Http::Code::Ok;
        std::string body;
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {  // 22P02: the id is not a uuid
            const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            code = state && std::string(state) == "22P02" ? Http::Code::Not_Found : Http::Code::Internal_Server_Error;
        } else if (list) {
            body = page(r);
        } else if (PQntuples(r) == 0) {  // no such order, or another customer's
            code = Http::Code::Not_Found;
        } else {
            body = order_fields(r, 0) + ",\"history\":" + col(r, 0, 9, 'j') + ",\"payments\":" + col(r, 0, 10, 'j') +
                   "}";
        }
        PQclear(r);
        if (code != Http::Code::Ok) return void(w.send(code));
        w.send(code, body, MIME(Application, Json));
    }
};

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: bare_get PORT DATABASE_URL JWT_SECRET [REACTOR_THREADS=2]\n");
        return 2;
    }
    g_url = argv[2];
    g_secret = argv[3];
    int threads = argc > 4 ? std::atoi(argv[4]) : 2;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    Http::Endpoint ep(Address(Ipv4::loopback(), Port(static_cast<uint16_t>(std::atoi(argv[1])))));
    ep.init(Http::Endpoint::options().threads(threads).flags(Tcp::Options::ReuseAddr | Tcp::Options::NoDelay));
    ep.setHandler(Http::make_handler<BareGet>());
    ep.serveThreaded();
    int sig = 0;
    sigwait(&set, &sig);
    ep.shutdown();
    return 0;
}
