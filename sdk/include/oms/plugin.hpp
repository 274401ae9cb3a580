// oms/plugin.hpp — the header-only C++ layer over <oms/abi.h>.
//
// A whole plugin:
//
//   #include <oms/plugin.hpp>
//
//   static void setup(oms::Plugin& p) {
//       p.route("GET", "/hello/:name", [](oms::Request& req) {
//           return oms::Response::json({{"hello", req.param("name")}});
//       }).summary("Greets by name");
//   }
//   OMS_PLUGIN("hello", "1.0.0", "Says hello", setup /*, "dependency", ... */)
//
// and in CMake: `oms_add_plugin(hello SOURCES hello.cpp MIGRATIONS migrations)`.
// The plugin guide (docs/plugin-guide.md; installed with the SDK as
// share/doc/oms-sdk/plugin-guide.md) walks through every part of this file.
//
// Everything here is compiled into the plugin, never shared with the host or
// other plugins: the SDK's namespace is hidden, and exceptions never cross
// the boundary (every entry point catches them and fills an oms_error).
#pragma once

#include <oms/abi.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstddef>
#include <sys/random.h>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(hidden)
#endif

namespace oms {

using json = nlohmann::json;

// ---------------------------------------------------------------------------
// Errors. Throw oms::Error from any handler; the host turns it into an RFC 9457
// problem+json answer with `code`, `detail` and, for validation, `errors`.
// Any other exception becomes a 500 whose detail is logged, not sent.

struct FieldError {
    std::string field;
    std::string message;
};

class Error : public std::exception {
public:
    Error(int status, std::string code, std::string detail, std::vector<FieldError> fields = {},
          std::string sqlstate = {})
        : status_(status), code_(std::move(code)), detail_(std::move(detail)),
          fields_(std::move(fields)), sqlstate_(std::move(sqlstate)) {}

    int status() const { return status_; }
    const std::string& code() const { return code_; }
    const std::string& detail() const { return detail_; }
    const std::vector<FieldError>& fields() const { return fields_; }
    // For database errors: the PostgreSQL SQLSTATE ("23505" = unique violation).
    const std::string& sqlstate() const { return sqlstate_; }
    // Headers sent with the problem answer, e.g. Retry-After on a 429.
    Error& with_header(std::string name, std::string value) {
        headers_.emplace_back(std::move(name), std::move(value));
        return *this;
    }
    const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }
    // An extension member of the problem answer (RFC 9457), e.g.
    // `.with_member("balance", 120)`; the standard members cannot be replaced.
    // Needs a host of ABI 1.2 (an older one sends the answer without it).
    Error& with_member(std::string name, json value) {
        members_.emplace_back(std::move(name), std::move(value));
        return *this;
    }
    const std::vector<std::pair<std::string, json>>& members() const { return members_; }
    bool is_unique_violation() const { return sqlstate_ == "23505"; }
    const char* what() const noexcept override { return detail_.c_str(); }

private:
    int status_;
    std::string code_;
    std::string detail_;
    std::vector<FieldError> fields_;
    std::string sqlstate_;
    std::vector<std::pair<std::string, std::string>> headers_;
    std::vector<std::pair<std::string, json>> members_;
};

inline Error bad_request(std::string code, std::string detail) { return {400, std::move(code), std::move(detail)}; }
inline Error validation_failed(std::vector<FieldError> fields) {
    return {400, "validation_failed", "The request body is invalid.", std::move(fields)};
}
inline Error unauthorized(std::string detail = "Authentication is required.") {
    return {401, "unauthorized", std::move(detail)};
}
inline Error forbidden(std::string detail = "You are not allowed to do this.") {
    return {403, "forbidden", std::move(detail)};
}
inline Error not_found(std::string detail = "Not found.") { return {404, "not_found", std::move(detail)}; }
inline Error conflict(std::string code, std::string detail) { return {409, std::move(code), std::move(detail)}; }

// Whether text has the shape of a UUID (8-4-4-4-12 hex digits, any case):
// ids from paths, bodies and events are checked before they reach a ::uuid
// cast, so garbage is a clean 4xx instead of a database error.
inline bool is_uuid(std::string_view s) {
    if (s.size() != 36) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        bool hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F');
        if (dash ? s[i] != '-' : !hex) return false;
    }
    return true;
}

// A UUID as PostgreSQL writes it (lower case), for an id that passed
// is_uuid: normalise ids once, at input, so that they compare equal to the
// ids other plugins and the database hand back.
inline std::string canonical_uuid(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// A new random (version 4) UUID in lower case, e.g. for a row whose id the
// following statements need before the row's INSERT has answered.
inline std::string new_uuid() {
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error("getrandom failed");
        }
        got += static_cast<size_t>(n);
    }
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
    static const char* hex = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
        out.push_back(hex[b[i] >> 4]);
        out.push_back(hex[b[i] & 15]);
    }
    return out;
}

// ---------------------------------------------------------------------------
namespace detail {

inline const oms_host_api* host = nullptr;  // set once by init, per plugin
inline oms_plugin* self = nullptr;

// Whether the host's function table reaches `field` (an ABI 1.1+ function on
// a 1.0 host does not): `OMS_HOST_HAS(cache_invalidate)`.
#define OMS_HOST_HAS(field) \
    (::oms::detail::host->struct_size >= offsetof(oms_host_api, field) + sizeof(::oms::detail::host->field))
// The end of ABI 1.0's table: what every host offers.
inline constexpr size_t kAbi10TableSize = offsetof(oms_host_api, error_add_header) + sizeof(void*);

inline oms_str str(std::string_view s) { return oms_str{s.data(), s.size()}; }
inline std::string_view view(oms_str s) { return s.data ? std::string_view(s.data, s.len) : std::string_view(); }
inline std::optional<std::string_view> maybe(oms_str s) {
    if (!s.data) return std::nullopt;
    return std::string_view(s.data, s.len);
}

// One clean error handle per thread, kept for the next ErrorSlot.
struct SpareError {
    oms_error* err = nullptr;
    ~SpareError() {
        if (err && host) host->error_free(err);
    }
};
inline thread_local SpareError spare_error;

// Lends an oms_error handle for the duration of a host call. Most calls
// succeed and leave it untouched: such a handle goes back to a per-thread
// spare instead of being freed, so a successful call allocates nothing.
class ErrorSlot {
public:
    ErrorSlot() : err_(spare_error.err ? std::exchange(spare_error.err, nullptr) : host->error_new()) {}
    ~ErrorSlot() {
        bool clean = host->error_status(err_) == 0 && host->error_field_count(err_) == 0;
        if (clean && !spare_error.err) spare_error.err = err_;
        else host->error_free(err_);
    }
    ErrorSlot(const ErrorSlot&) = delete;
    ErrorSlot& operator=(const ErrorSlot&) = delete;
    oms_error* get() const { return err_; }

    [[noreturn]] void raise() const { throw to_exception(err_); }

    static Error to_exception(const oms_error* err) {
        std::vector<FieldError> fields;
        for (size_t i = 0, n = host->error_field_count(err); i < n; ++i) {
            oms_str f{}, m{};
            host->error_field(err, i, &f, &m);
            fields.push_back({std::string(view(f)), std::string(view(m))});
        }
        int status = host->error_status(err);
        return Error(status ? status : 500, std::string(view(host->error_code(err))),
                     std::string(view(host->error_detail(err))), std::move(fields),
                     std::string(view(host->error_sqlstate(err))));
    }

private:
    oms_error* err_;
};

inline void fill(oms_error* err, const Error& e) {
    host->error_set(err, e.status(), str(e.code()), str(e.detail()));
    for (const auto& f : e.fields()) host->error_add_field(err, str(f.field), str(f.message));
    for (const auto& [name, value] : e.headers()) host->error_add_header(err, str(name), str(value));
    if (!e.members().empty() && OMS_HOST_HAS(error_add_member))
        for (const auto& [name, value] : e.members()) {
            std::string text = value.dump();
            host->error_add_member(err, str(name), str(text));
        }
}

// Runs `fn`, turning every exception into `err`. The only way plugin code is
// entered from the host, so nothing ever unwinds across the C boundary.
template <class F>
int guard(oms_error* err, F&& fn) noexcept {
    try {
        fn();
        return OMS_OK;
    } catch (const Error& e) {
        fill(err, e);
    } catch (const json::exception& e) {
        // A JSON document of an unexpected shape on the server's side (a
        // service's answer, an event's payload, a row): our bug, not the
        // client's. The request body's own errors are 400s: it is parsed
        // (malformed_json) and checked (validation_failed) before it is used.
        std::string why = std::string("JSON: ") + e.what();
        host->error_set(err, 500, str("internal_error"), str(why));
    } catch (const std::exception& e) {
        host->error_set(err, 500, str("internal_error"), str(e.what()));
    } catch (...) {
        host->error_set(err, 500, str("internal_error"), str("unknown exception in plugin"));
    }
    return OMS_FAIL;
}

// A host-owned byte buffer, freed on scope exit.
class Buffer {
public:
    Buffer() : buf_(host->buffer_new()) {}
    ~Buffer() { host->buffer_free(buf_); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    oms_buffer* get() const { return buf_; }
    std::string_view view() const { return detail::view(host->buffer_view(buf_)); }

private:
    oms_buffer* buf_;
};

}  // namespace detail

// ---------------------------------------------------------------------------
// Logging (goes to the host's log, tagged with the plugin name and request id).
namespace log {
inline void write(int level, std::string_view msg) { detail::host->log(detail::self, level, detail::str(msg)); }
inline void debug(std::string_view m) { write(OMS_LOG_DEBUG, m); }
inline void info(std::string_view m) { write(OMS_LOG_INFO, m); }
inline void warn(std::string_view m) { write(OMS_LOG_WARN, m); }
inline void error(std::string_view m) { write(OMS_LOG_ERROR, m); }
}  // namespace log

// Configuration: environment, then .env, then the config file.
inline std::optional<std::string> config(std::string_view key) {
    auto v = detail::maybe(detail::host->config_get(detail::self, detail::str(key)));
    if (!v) return std::nullopt;
    return std::string(*v);
}
inline std::string config(std::string_view key, std::string_view fallback) {
    auto v = config(key);
    return v ? *v : std::string(fallback);
}
// An integer setting in [min, max]; unset or empty gives `fallback`. Anything
// else throws, so a plugin refuses to start on a bad value (one clear line).
inline int64_t config_int(std::string_view key, int64_t fallback, int64_t min, int64_t max) {
    auto v = config(key);
    if (!v || v->empty()) return fallback;
    int64_t n = 0;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || p != v->data() + v->size() || n < min || n > max)
        throw Error(500, "bad_config",
                    std::string(key) + " must be an integer from " + std::to_string(min) + " to " +
                        std::to_string(max) + " (got '" + *v + "')");
    return n;
}

// ---------------------------------------------------------------------------
// Database rows. Values arrive in PostgreSQL's text form and are converted on
// access; timestamps come back as RFC 3339 UTC with `time()`.

// Converts PostgreSQL's timestamptz text ("2026-11-25 09:01:43.12+00", the
// session runs in UTC) to RFC 3339 ("2026-11-25T09:01:43.12Z").
inline std::string to_rfc3339(std::string_view pg) {
    std::string out(pg);
    if (out.size() > 10 && out[10] == ' ') out[10] = 'T';
    if (out.size() >= 3 && out.compare(out.size() - 3, 3, "+00") == 0) out.replace(out.size() - 3, 3, "Z");
    return out;
}

namespace detail {
// One result and its column names, read once (rows look columns up by name).
struct ResultData {
    explicit ResultData(oms_result* r) : res(r) {
        size_t n = host->result_columns(r);
        names.reserve(n);
        for (size_t c = 0; c < n; ++c) names.push_back(view(host->result_column_name(r, c)));
    }
    ~ResultData() { host->result_free(res); }
    ResultData(const ResultData&) = delete;
    ResultData& operator=(const ResultData&) = delete;
    size_t column(std::string_view name) const {
        for (size_t c = 0; c < names.size(); ++c)
            if (names[c] == name) return c;
        throw std::runtime_error("no column named " + std::string(name));
    }
    oms_result* res;
    std::vector<std::string_view> names;  // the host's strings, valid while res lives
};
}  // namespace detail

// A row of a Result. It shares ownership of the result, so
// `auto row = tx.query(...).at(0);` stays valid after the Result is gone.
class Row {
public:
    Row(std::shared_ptr<const detail::ResultData> data, size_t row) : data_(std::move(data)), row_(row) {}

    bool is_null(std::string_view column) const {
        return detail::host->result_is_null(data_->res, row_, data_->column(column)) != 0;
    }
    // "" for NULL; valid while the row lives.
    std::string_view text(std::string_view column) const {
        return detail::view(detail::host->result_value(data_->res, row_, data_->column(column)));
    }

    // The column converted to T: std::string, std::string_view (valid while the
    // row lives), integers, bool, floating point or json. Throws if the value
    // is NULL (use get_optional) or does not convert; a missing column name throws.
    template <class T>
    T get(std::string_view column) const {
        size_t c = data_->column(column);
        if (detail::host->result_is_null(data_->res, row_, c))
            throw std::runtime_error("column " + std::string(column) + " is NULL");
        return convert<T>(detail::view(detail::host->result_value(data_->res, row_, c)), column);
    }
    template <class T>
    std::optional<T> get_optional(std::string_view column) const {
        size_t c = data_->column(column);
        if (detail::host->result_is_null(data_->res, row_, c)) return std::nullopt;
        return convert<T>(detail::view(detail::host->result_value(data_->res, row_, c)), column);
    }
    // A timestamptz column as RFC 3339 UTC, or JSON null.
    json time(std::string_view column) const {
        auto v = get_optional<std::string_view>(column);
        if (!v) return nullptr;
        return to_rfc3339(*v);
    }

private:
    template <class T>
    static T convert(std::string_view v, std::string_view column) {
        if constexpr (std::is_same_v<T, std::string>) {
            return std::string(v);
        } else if constexpr (std::is_same_v<T, std::string_view>) {
            return v;
        } else if constexpr (std::is_same_v<T, bool>) {
            return v == "t" || v == "true";
        } else if constexpr (std::is_integral_v<T>) {
            T out{};
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
            if (ec != std::errc() || p != v.data() + v.size())
                throw std::runtime_error("column " + std::string(column) + " is not an integer");
            return out;
        } else if constexpr (std::is_floating_point_v<T>) {
            std::string s(v);
            return static_cast<T>(std::strtod(s.c_str(), nullptr));
        } else if constexpr (std::is_same_v<T, json>) {
            return json::parse(v);
        } else {
            static_assert(sizeof(T) == 0, "unsupported column type");
        }
    }

    std::shared_ptr<const detail::ResultData> data_;
    size_t row_;
};

// The rows of one query, in PostgreSQL's text form.
class Result {
public:
    explicit Result(oms_result* r) : data_(std::make_shared<const detail::ResultData>(r)) {}

    size_t size() const { return detail::host->result_rows(data_->res); }
    bool empty() const { return size() == 0; }
    uint64_t affected() const { return detail::host->result_affected(data_->res); }
    Row operator[](size_t i) const { return Row(data_, i); }
    Row at(size_t i) const {
        if (i >= size()) throw std::out_of_range("row index out of range");
        return Row(data_, i);
    }
    std::optional<Row> first() const {
        if (empty()) return std::nullopt;
        return Row(data_, 0);
    }

    size_t column(std::string_view name) const { return data_->column(name); }
    bool is_null(size_t row, size_t col) const { return detail::host->result_is_null(data_->res, row, col) != 0; }
    std::string_view value(size_t row, size_t col) const {
        return detail::view(detail::host->result_value(data_->res, row, col));
    }

    struct iterator {
        const Result* res;
        size_t i;
        Row operator*() const { return (*res)[i]; }
        iterator& operator++() {
            ++i;
            return *this;
        }
        bool operator!=(const iterator& o) const { return i != o.i; }
    };
    iterator begin() const { return {this, 0}; }
    iterator end() const { return {this, size()}; }

private:
    std::shared_ptr<const detail::ResultData> data_;
};

// The answer of a statement sent later (Tx::query_later); get() waits for it,
// sending whatever the transaction has queued in one round trip.
class Pending {
public:
    Result get() {
        if (!res_) throw std::logic_error("Pending::get() is called once");
        if (!waited_) {
            detail::ErrorSlot err;
            if (detail::host->result_wait(res_, err.get()) != OMS_OK) err.raise();
            waited_ = true;
        }
        return Result(std::exchange(res_, nullptr));
    }
    Pending(Pending&& o) noexcept : res_(std::exchange(o.res_, nullptr)), waited_(o.waited_) {}
    Pending& operator=(Pending&&) = delete;
    Pending(const Pending&) = delete;
    ~Pending() {
        if (res_) detail::host->result_free(res_);
    }

private:
    friend class Tx;
    Pending(oms_result* r, bool waited) : res_(r), waited_(waited) {}
    oms_result* res_;
    bool waited_;
};

// ---------------------------------------------------------------------------
// Transactions. Queries take $1..$n parameters: strings, integers, doubles,
// bools, std::optional<T> / std::nullopt (NULL) and json (sent as text).
namespace detail {

template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};

// A PostgreSQL array literal ({"a","b"} or {1,2}) of strings or integers.
template <class T>
std::string array_literal(const std::vector<T>& values) {
    std::string out = "{";
    for (const auto& v : values) {
        if (out.size() > 1) out += ',';
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
            out += std::to_string(v);
        } else {
            static_assert(std::is_convertible_v<const T&, std::string_view>, "arrays hold strings or integers");
            out += '"';
            for (char c : std::string_view(v)) {
                if (c == '"' || c == '\\') out += '\\';
                out += c;
            }
            out += '"';
        }
    }
    return out + "}";
}

struct ParamPack {
    std::vector<oms_param> params;
    std::vector<std::string> storage;  // text made on the fly (json, doubles)

    template <class T>
    void add(const T& v) {
        oms_param p{};
        using D = std::decay_t<T>;
        if constexpr (std::is_same_v<D, std::nullopt_t> || std::is_same_v<D, std::nullptr_t>) {
            p.type = OMS_PARAM_NULL;
        } else if constexpr (std::is_same_v<D, bool>) {
            p.type = OMS_PARAM_BOOL;
            p.boolean = v ? 1 : 0;
        } else if constexpr (std::is_integral_v<D>) {
            p.type = OMS_PARAM_INT64;
            p.int64 = static_cast<int64_t>(v);
        } else if constexpr (std::is_floating_point_v<D>) {
            p.type = OMS_PARAM_FLOAT64;
            p.float64 = static_cast<double>(v);
        } else if constexpr (std::is_same_v<D, json>) {
            storage.push_back(v.dump());
            p.type = OMS_PARAM_TEXT;
            p.text = str(storage.back());
        } else if constexpr (std::is_convertible_v<const D&, std::string_view>) {
            p.type = OMS_PARAM_TEXT;
            p.text = str(std::string_view(v));
        } else if constexpr (is_vector<D>::value) {
            storage.push_back(array_literal(v));
            p.type = OMS_PARAM_TEXT;
            p.text = str(storage.back());
        } else {
            static_assert(sizeof(D) == 0, "unsupported query parameter type");
        }
        params.push_back(p);
    }
    template <class T>
    void add(const std::optional<T>& v) {
        if (v) add(*v);
        else add(std::nullopt);
    }
};

}  // namespace detail

class Tx {
public:
    // Begin a transaction of your own (jobs, commands). Rolled back on scope
    // exit unless commit() was called.
    static Tx begin() {
        detail::ErrorSlot err;
        oms_tx* tx = nullptr;
        if (detail::host->tx_begin(detail::self, &tx, err.get()) != OMS_OK) err.raise();
        return Tx(tx, true);
    }
    // Wrap a transaction the host owns (request, event, service).
    static Tx borrow(oms_tx* tx) { return Tx(tx, false); }

    Tx(Tx&& o) noexcept : tx_(std::exchange(o.tx_, nullptr)), owned_(o.owned_) {}
    Tx& operator=(Tx&&) = delete;
    Tx(const Tx&) = delete;
    ~Tx() {
        if (tx_ && owned_) detail::host->tx_rollback(tx_);
    }

    // Runs one statement with $1..$n bound to `args`: strings, integers, bool,
    // double, json (as its text), std::optional of those (NULL when empty), and
    // std::vector of strings or integers as a PostgreSQL array literal — cast it
    // ($1::uuid[]) and use `= ANY($1::uuid[])` or `unnest($1::uuid[], $2::int[])`,
    // which the planner turns into index lookups (a jsonb list joined to a table
    // is estimated at 100 rows and read with a sequential scan). Throws oms::Error on a
    // database error (already mapped: 409 for a constraint, 503 for a lost
    // database or a serialization failure, ...). After a failed statement
    // PostgreSQL refuses every further statement of the transaction, so
    // catching the error does not make this Tx usable again: avoid expected
    // failures in SQL instead (INSERT ... ON CONFLICT DO NOTHING RETURNING ...).
    template <class... A>
    Result query(std::string_view sql, const A&... args) {
        detail::ParamPack pack;
        pack.storage.reserve(sizeof...(A));  // keeps text pointers stable
        (pack.add(args), ...);
        detail::ErrorSlot err;
        oms_result* res = nullptr;
        if (detail::host->tx_query(tx_, detail::str(sql), pack.params.data(), pack.params.size(), &res,
                                   err.get()) != OMS_OK)
            err.raise();
        return Result(res);
    }
    // Queues a statement (same parameters as query) that is sent later, in one
    // round trip with the next statement that needs an answer, a get() of any
    // queued statement, or the commit: independent statements, yours and those
    // of services you call, then cost one round trip together. Its failure
    // fails the transaction: get() throws it, and so does the commit.
    template <class... A>
    Pending query_later(std::string_view sql, const A&... args) {
        detail::ParamPack pack;
        pack.storage.reserve(sizeof...(A));
        (pack.add(args), ...);
        detail::ErrorSlot err;
        oms_result* res = nullptr;
        if (!OMS_HOST_HAS(tx_query_deferred)) {  // an ABI 1.0 host: run it now
            if (detail::host->tx_query(tx_, detail::str(sql), pack.params.data(), pack.params.size(), &res,
                                       err.get()) != OMS_OK)
                err.raise();
            return Pending(res, true);
        }
        if (detail::host->tx_query_deferred(tx_, detail::str(sql), pack.params.data(), pack.params.size(), &res,
                                            err.get()) != OMS_OK)
            err.raise();
        return Pending(res, false);
    }
    // A statement whose answer nobody needs, queued like query_later: its
    // failure fails the transaction (the next answer or the commit reports it).
    template <class... A>
    void exec_later(std::string_view sql, const A&... args) {
        (void)query_later(sql, args...);
    }
    // Runs a statement and returns the number of rows it changed.
    template <class... A>
    uint64_t exec(std::string_view sql, const A&... args) {
        return query(sql, args...).affected();
    }

    // Publish a domain event; subscribers run now, inside this transaction, in
    // plugin load order. A subscriber that throws makes publish throw its
    // error, and the whole transaction then fails with it.
    void publish(std::string_view event, const json& payload) {
        std::string body = payload.dump();
        detail::ErrorSlot err;
        if (detail::host->event_publish(tx_, detail::str(event), detail::str(body), err.get()) != OMS_OK)
            err.raise();
    }
    // Call another plugin's service inside this transaction; returns its JSON
    // result. Its oms::Error is rethrown here (status, code, fields); a service
    // no loaded plugin offers throws 501 service_unavailable (see service_exists).
    json call(std::string_view service, const json& args) {
        std::string text = call_text(service, args);
        return text.empty() ? json() : json::parse(text);
    }
    // The same call, its result as the JSON text the service wrote (for
    // passing it on without parsing it).
    std::string call_text(std::string_view service, const json& args) {
        std::string body = args.dump();
        detail::Buffer out;
        detail::ErrorSlot err;
        if (detail::host->service_call(tx_, detail::str(service), detail::str(body), out.get(), err.get()) !=
            OMS_OK)
            err.raise();
        return std::string(out.view());
    }

    // Tells every host to drop its cached answers of `service` for `key` (empty:
    // all of them) once this transaction commits; see cache_invalidate in
    // <oms/abi.h>. On a host older than ABI 1.1 (which caches nothing) a no-op.
    void invalidate_cached(std::string_view service, std::string_view key) {
        if (!OMS_HOST_HAS(cache_invalidate)) return;
        detail::ErrorSlot err;
        if (detail::host->cache_invalidate(tx_, detail::str(service), detail::str(key), err.get()) != OMS_OK)
            err.raise();
    }

    // Stores the task `name` (see Plugin::task) with `payload` in this
    // transaction: it runs after the commit, at least once, and never if the
    // transaction rolls back. A non-empty `key` stores it at most once ever
    // (a retried request, a replayed webhook enqueue nothing new).
    void enqueue(std::string_view name, const json& payload, std::string_view key = {}) {
        if (!OMS_HOST_HAS(tx_enqueue_task))
            throw Error(501, "service_unavailable", "this host is older than ABI 1.2 and runs no tasks");
        std::string body = payload.dump();
        detail::ErrorSlot err;
        if (detail::host->tx_enqueue_task(tx_, detail::str(name), detail::str(body), detail::str(key), err.get()) !=
            OMS_OK)
            err.raise();
    }

    void commit() {
        if (!owned_) throw std::logic_error("the host commits this transaction");
        detail::ErrorSlot err;
        oms_tx* tx = std::exchange(tx_, nullptr);
        if (detail::host->tx_commit(tx, err.get()) != OMS_OK) err.raise();
    }
    void rollback() {
        if (!owned_) throw std::logic_error("the host ends this transaction");
        if (tx_) detail::host->tx_rollback(std::exchange(tx_, nullptr));
    }
    oms_tx* handle() const { return tx_; }

private:
    Tx(oms_tx* tx, bool owned) : tx_(tx), owned_(owned) {}
    oms_tx* tx_;
    bool owned_;
};

inline bool service_exists(std::string_view name) { return detail::host->service_exists(detail::str(name)) != 0; }

// ---------------------------------------------------------------------------
// HTTP.

struct Caller {
    std::string user_id;
    std::string role;
    bool is_admin() const { return role == "admin"; }
};

class Request {
public:
    explicit Request(oms_request* r) : req_(r) {}

    std::string_view method() const { return detail::view(detail::host->request_method(req_)); }
    std::string_view path() const { return detail::view(detail::host->request_path(req_)); }
    std::string_view id() const { return detail::view(detail::host->request_id(req_)); }
    std::string_view body() const { return detail::view(detail::host->request_body(req_)); }
    std::string_view remote_address() const { return detail::view(detail::host->request_remote_address(req_)); }
    // A ":name" segment of the route.
    std::string param(std::string_view name) const {
        return std::string(detail::view(detail::host->request_param(req_, detail::str(name))));
    }
    std::optional<std::string> query(std::string_view name) const {
        auto v = detail::maybe(detail::host->request_query(req_, detail::str(name)));
        return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
    }
    std::optional<std::string> header(std::string_view name) const {
        auto v = detail::maybe(detail::host->request_header(req_, detail::str(name)));
        return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
    }
    // The body as JSON (the host has already answered 400 for malformed JSON
    // and 415 for another content type on ordinary routes). Empty body → {}.
    const json& json_body() {
        if (!parsed_) {
            auto b = body();
            parsed_ = b.empty() ? json::object() : json::parse(b, nullptr, false);
            if (parsed_->is_discarded()) throw bad_request("malformed_json", "The body is not valid JSON.");
        }
        return *parsed_;
    }
    // The authenticated caller, if the request carried a valid token.
    std::optional<Caller> caller() const {
        oms_caller c{};
        if (!detail::host->request_caller(req_, &c)) return std::nullopt;
        return Caller{std::string(detail::view(c.user_id)), std::string(detail::view(c.role))};
    }
    Caller require_caller() const {
        auto c = caller();
        if (!c) throw unauthorized();
        return *c;
    }
    // The request's transaction, committed by the host when the handler returns.
    Tx& tx() {
        if (!tx_) {
            detail::ErrorSlot err;
            oms_tx* t = nullptr;
            if (detail::host->request_tx(req_, &t, err.get()) != OMS_OK) err.raise();
            tx_.emplace(Tx::borrow(t));
        }
        return *tx_;
    }

private:
    oms_request* req_;
    std::optional<json> parsed_;
    std::optional<Tx> tx_;
};

struct Response {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;

    static Response json(const oms::json& body, int status = 200) {
        Response r;
        r.status = status;
        r.body = body.dump();
        return r;
    }
    // A body that already is JSON text (e.g. built by PostgreSQL with
    // json_build_object), sent as it is: no document is parsed or written.
    static Response json_text(std::string body, int status = 200) {
        Response r;
        r.status = status;
        r.body = std::move(body);
        return r;
    }
    static Response no_content() {
        Response r;
        r.status = 204;
        r.content_type.clear();
        return r;
    }
    Response& header(std::string name, std::string value) {
        headers.emplace_back(std::move(name), std::move(value));
        return *this;
    }
};

using RouteHandler = std::function<Response(Request&)>;
using EventHandler = std::function<void(Tx&, std::string_view event, const json& payload)>;
// An after-commit subscriber (Plugin::subscribe_after_commit): no transaction
// is given; open your own (Tx::begin).
using AfterCommitHandler = std::function<void(std::string_view event, const json& payload)>;
// What a service answers: a JSON document, or JSON text it already has (built
// by PostgreSQL), which is handed over as it is instead of being parsed and
// written out again: `return oms::JsonText{row.text("body")};`.
struct JsonText {
    std::string text;
};
struct ServiceResult {
    ServiceResult(json value) : value(std::move(value)) {}  // NOLINT: a json converts implicitly
    ServiceResult(JsonText t) : text(std::move(t.text)), is_text(true) {}  // NOLINT
    json value;
    std::string text;
    bool is_text = false;
};
using ServiceHandler = std::function<ServiceResult(Tx&, const json& args)>;
using JobHandler = std::function<void()>;
// One run of a task (Plugin::task). `id` is the same on every run: use it as
// the idempotency key of whatever the task asks of another system.
struct Task {
    std::string id;
    std::string name;
    json payload;
    uint32_t attempt;  // 1 on the first run
};
using TaskHandler = std::function<void(const Task&)>;

class CommandArgs {
public:
    explicit CommandArgs(const oms_command_args* a) : args_(a) {}
    std::optional<std::string> get(std::string_view name) const {
        auto v = detail::maybe(detail::host->command_arg(args_, detail::str(name)));
        return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
    }
    bool flag(std::string_view name) const { return get(name).has_value(); }

private:
    const oms_command_args* args_;
};
using CommandHandler = std::function<void(const CommandArgs&)>;

struct Token {
    std::string token;
    int64_t expires_in = 0;  // seconds
};
// Issue an HS256 JWT for a user (the host signs it with JWT_SECRET).
inline Token issue_token(std::string_view user_id, std::string_view role) {
    detail::Buffer out;
    detail::ErrorSlot err;
    Token t;
    if (detail::host->token_issue(detail::self, detail::str(user_id), detail::str(role), out.get(), &t.expires_in,
                                  err.get()) != OMS_OK)
        err.raise();
    t.token = std::string(out.view());
    return t;
}

// ---------------------------------------------------------------------------
// JSON Schema shorthands for the OpenAPI calls of RouteSpec (request_schema(),
// response_schema(), ...) and for declared contracts (Plugin::event(),
// ServiceSpec::accepts()/returns()). Plain json works as well; these keep
// lists short.
namespace schema {
inline json text(int64_t min_length = -1, int64_t max_length = -1) {
    json s = {{"type", "string"}};
    if (min_length >= 0) s["minLength"] = min_length;
    if (max_length >= 0) s["maxLength"] = max_length;
    return s;
}
inline json formatted(const char* format) { return {{"type", "string"}, {"format", format}}; }
inline json uuid() { return formatted("uuid"); }
inline json date_time() { return formatted("date-time"); }
inline json integer(std::optional<int64_t> minimum = std::nullopt, std::optional<int64_t> maximum = std::nullopt) {
    json s = {{"type", "integer"}};
    if (minimum) s["minimum"] = *minimum;
    if (maximum) s["maximum"] = *maximum;
    return s;
}
// An amount in major units of the currency beside it (99.99), never more decimals than it has.
inline json money() {
    return {{"type", "number"},
            {"minimum", 0},
            {"x-oms-unit", "major"},
            {"description", "In major units of `currency`, e.g. 99.99"}};
}
// An amount in integer minor units of the currency beside it (9999 for 99.99
// INR): how events and services carry money. Marked "x-oms-unit": "minor" so
// a reader of the contract cannot take it for the HTTP API's major units.
inline json minor_units(std::string description = "In minor units of `currency` (paise for INR: 9999 is 99.99)") {
    return {{"type", "integer"}, {"minimum", 0}, {"x-oms-unit", "minor"}, {"description", std::move(description)}};
}
inline json boolean() { return {{"type", "boolean"}}; }
inline json currency() {
    return {{"type", "string"}, {"pattern", "^[A-Za-z]{3}$"}, {"description", "ISO 4217 code"}, {"default", "INR"}};
}
inline json one_of(std::vector<std::string> values) { return {{"type", "string"}, {"enum", std::move(values)}}; }
inline json nullable(json s) { return {{"anyOf", json::array({std::move(s), {{"type", "null"}}})}}; }
inline json array(json items) { return {{"type", "array"}, {"items", std::move(items)}}; }
// {"type": "object", "properties": ..., "required": [...]}; `properties` is an object of schemas.
inline json object(json properties, std::vector<std::string> required = {}) {
    json s = {{"type", "object"}, {"properties", std::move(properties)}};
    if (!required.empty()) s["required"] = std::move(required);
    return s;
}
}  // namespace schema

// ---------------------------------------------------------------------------
// Registration. `setup(Plugin&)` describes the plugin; the host receives it
// all when setup returns.

class Plugin {
public:
    class RouteSpec {
    public:
        RouteSpec& auth() { flags_ |= OMS_ROUTE_AUTH; return *this; }
        RouteSpec& role(std::string r) { role_ = std::move(r); flags_ |= OMS_ROUTE_AUTH; return *this; }
        RouteSpec& raw_body() { flags_ |= OMS_ROUTE_RAW_BODY; return *this; }
        RouteSpec& idempotent() { flags_ |= OMS_ROUTE_IDEMPOTENT; return *this; }
        // The handler only reads: no BEGIN/COMMIT round trips (see OMS_ROUTE_READ_ONLY).
        RouteSpec& read_only() { flags_ |= OMS_ROUTE_READ_ONLY; return *this; }
        RouteSpec& summary(std::string s) { summary_ = std::move(s); return *this; }

        // The route's part of GET /openapi.json (OpenAPI 3.1; schemas are JSON Schema 2020-12).
        // The host already writes the path parameters, security, tags, the Idempotency-Key
        // header and its standard problem+json errors; add what only the plugin knows:
        //
        //   p.route("POST", "/things", create).role("admin")
        //       .request_schema(thing_input)
        //       .response_schema(201, thing)
        //       .error(409, "thing_taken: a thing with this name exists");
        RouteSpec& description(std::string text) { return openapi({{"description", std::move(text)}}); }
        // An application/json request body (`required`: an empty body is refused).
        RouteSpec& request_schema(json schema, bool required = true) {
            return openapi({{"requestBody",
                             {{"required", required}, {"content", {{"application/json", {{"schema", std::move(schema)}}}}}}}});
        }
        // An application/json answer; a null schema for one without a body (204).
        RouteSpec& response_schema(int status, json schema, std::string description = {}) {
            json response = {{"description", description.empty() ? default_description(status) : description}};
            if (!schema.is_null()) response["content"] = {{"application/json", {{"schema", std::move(schema)}}}};
            return openapi({{"responses", {{std::to_string(status), std::move(response)}}}});
        }
        // A header of that answer, e.g. Location on a 201.
        RouteSpec& response_header(int status, std::string name, std::string description) {
            json header = {{"description", std::move(description)}, {"schema", {{"type", "string"}}}};
            return openapi({{"responses", {{std::to_string(status), {{"headers", {{std::move(name), std::move(header)}}}}}}}});
        }
        // Refines a :name parameter of the path (the host documents each as a string).
        RouteSpec& path_param(std::string name, json schema, std::string description = {}) {
            return parameter("path", std::move(name), std::move(schema), std::move(description), true);
        }
        RouteSpec& query_param(std::string name, json schema, std::string description = {}, bool required = false) {
            return parameter("query", std::move(name), std::move(schema), std::move(description), required);
        }
        // A problem+json answer this route gives besides the host's own: "code: when".
        RouteSpec& error(int status, std::string description) {
            return openapi({{"x-oms-errors", {{std::to_string(status), std::move(description)}}}});
        }
        // Anything else: deep-merged into the operation object (parameters are appended).
        RouteSpec& openapi(const json& fragment) {
            merge(doc_, fragment);
            return *this;
        }

    private:
        friend class Plugin;
        static std::string default_description(int status) {
            switch (status) {
                case 200: return "OK";
                case 201: return "Created";
                case 202: return "Accepted";
                case 204: return "No Content";
                default: return "Status " + std::to_string(status);
            }
        }
        RouteSpec& parameter(const char* in, std::string name, json schema, std::string description, bool required) {
            json p = {{"name", std::move(name)}, {"in", in}, {"required", required}, {"schema", std::move(schema)}};
            if (!description.empty()) p["description"] = std::move(description);
            return openapi({{"parameters", json::array({std::move(p)})}});
        }
        static void merge(json& into, const json& patch) {
            if (!patch.is_object() || !into.is_object()) {
                into = patch;
                return;
            }
            for (auto it = patch.begin(); it != patch.end(); ++it) {
                json& slot = into[it.key()];
                if (it.key() == "parameters" && slot.is_array() && it->is_array()) {
                    for (const auto& p : *it) slot.push_back(p);
                } else if (slot.is_object() && it->is_object()) {
                    merge(slot, *it);
                } else {
                    slot = *it;
                }
            }
        }

        std::string method_, path_, role_, summary_, openapi_;
        json doc_ = json::object();
        uint32_t flags_ = OMS_ROUTE_PUBLIC;
        std::unique_ptr<RouteHandler> handler_;
    };

    class CommandSpec {
    public:
        CommandSpec& option(std::string name, std::string help, uint32_t flags = 0) {
            options_.push_back({std::move(name), std::move(help), flags});
            return *this;
        }
        CommandSpec& required(std::string name, std::string help) {
            return option(std::move(name), std::move(help), OMS_OPTION_REQUIRED);
        }
        CommandSpec& flag(std::string name, std::string help) {
            return option(std::move(name), std::move(help), OMS_OPTION_FLAG);
        }
        CommandSpec& positional(std::string name, std::string help, bool required = true) {
            return option(std::move(name), std::move(help),
                          OMS_OPTION_POSITIONAL | (required ? OMS_OPTION_REQUIRED : 0u));
        }

    private:
        friend class Plugin;
        struct Opt {
            std::string name, help;
            uint32_t flags;
        };
        std::string name_, help_;
        std::vector<Opt> options_;
        std::unique_ptr<CommandHandler> handler_;
    };

    // Returned by subscribe() and subscribe_after_commit().
    class SubscriptionSpec {
    public:
        // Start even when no loaded plugin declares a matching event (the
        // publisher is a plugin the operator may leave out). Without it, the
        // host refuses to start (ABI 1.3).
        SubscriptionSpec& optional() { optional_ = true; return *this; }

    private:
        friend class Plugin;
        std::string event_;
        std::unique_ptr<EventHandler> handler_;             // in the publisher's transaction, or
        std::unique_ptr<AfterCommitHandler> after_commit_;  // after it commits
        bool optional_ = false;
    };

    // Returned by service(): the service's contract, checked by the host in
    // development and tests (OMS_CONTRACT_CHECKS), printed by `oms-host contracts`.
    class ServiceSpec {
    public:
        // JSON Schema of the arguments object.
        ServiceSpec& accepts(json schema) { args_ = std::move(schema); return *this; }
        // JSON Schema of the result.
        ServiceSpec& returns(json schema) { result_ = std::move(schema); return *this; }

    private:
        friend class Plugin;
        std::string name_, description_, args_text_, result_text_;
        json args_, result_;
        std::unique_ptr<ServiceHandler> handler_;
    };

    // Returned by calls().
    class CallSpec {
    public:
        // The plugin works without it (check oms::service_exists before calling).
        CallSpec& optional() { optional_ = true; return *this; }

    private:
        friend class Plugin;
        std::string service_;
        bool optional_ = false;
    };

    RouteSpec& route(std::string method, std::string path, RouteHandler handler) {
        auto& r = routes_.emplace_back(std::make_unique<RouteSpec>());
        r->method_ = std::move(method);
        r->path_ = std::move(path);
        r->handler_ = std::make_unique<RouteHandler>(std::move(handler));
        return *r;
    }
    // A migration registered by hand. oms_add_plugin(... MIGRATIONS dir) embeds
    // and registers dir/NNNN_name.sql for you; use this only for generated SQL.
    // Versions are strictly increasing per plugin; each runs once, in its own
    // transaction, and must never change once shipped (its checksum is kept).
    void migration(uint32_t version, std::string name, std::string sql) {
        migrations_.push_back({version, std::move(name), std::move(sql)});
    }
    // Run `handler` inside the publisher's transaction for every event named
    // `event` exactly, every event starting with "prefix." for "prefix.*", or
    // every event for "*". Throwing fails the publisher's whole transaction.
    SubscriptionSpec& subscribe(std::string event, EventHandler handler) {
        auto& s = subscriptions_.emplace_back(std::make_unique<SubscriptionSpec>());
        s->event_ = std::move(event);
        s->handler_ = std::make_unique<EventHandler>(std::move(handler));
        return *s;
    }
    // Run `handler` after the publisher's transaction commits (never if it
    // rolls back), outside it: at least once, surviving a host's crash, in
    // publish order for this subscriber. Throwing a 5xx oms::Error (or any
    // other exception) delivers it again later (a delivery waits for the one
    // before it); a 4xx gives it up (`oms-host tasks list`). Use it for what
    // must not fail or slow the publisher: loyalty points, e-mails, a
    // warehouse message. Needs a host of ABI 1.2 (refuses to start otherwise).
    SubscriptionSpec& subscribe_after_commit(std::string event, AfterCommitHandler handler) {
        auto& s = subscriptions_.emplace_back(std::make_unique<SubscriptionSpec>());
        s->event_ = std::move(event);
        s->after_commit_ = std::make_unique<AfterCommitHandler>(std::move(handler));
        return *s;
    }
    // Offer "<plugin>.<operation>" to other plugins: `handler` gets the caller's
    // transaction and JSON arguments and returns a JSON result. Declare its
    // contract, .accepts(schema).returns(schema): without them the host warns
    // at start-up, and callers must guess.
    ServiceSpec& service(std::string name, ServiceHandler handler, std::string description = {}) {
        auto& s = services_.emplace_back(std::make_unique<ServiceSpec>());
        s->name_ = std::move(name);
        s->description_ = std::move(description);
        s->handler_ = std::make_unique<ServiceHandler>(std::move(handler));
        return *s;
    }
    // Declare an event this plugin publishes (Tx::publish), with the JSON
    // Schema of its payload: other plugins read the contract instead of your
    // code, and in development and tests the host refuses a publish of an
    // undeclared event or of a payload that does not match (500
    // contract_violation). Money is integer minor units (schema::minor_units).
    // Add fields in later versions; never rename or repurpose one.
    void event(std::string name, std::string summary, json payload_schema) {
        events_.push_back({std::move(name), std::move(summary), payload_schema.dump()});
    }
    // Declare a service this plugin calls (Tx::call). A host where no loaded
    // plugin offers it refuses to start, unless .optional().
    CallSpec& calls(std::string service) {
        auto& c = calls_.emplace_back(std::make_unique<CallSpec>());
        c->service_ = std::move(service);
        return *c;
    }
    // Run `handler` every `every` (>= 10 ms) on the host's job thread while it
    // serves (not during CLI commands). Every host runs it: make it safe to run
    // on several hosts at once. It opens its own transactions (Tx::begin);
    // an exception is logged and the job runs again at its next interval.
    void job(std::string name, std::chrono::milliseconds every, JobHandler handler) {
        jobs_.push_back({std::move(name), every, std::make_unique<JobHandler>(std::move(handler))});
    }
    // A task: work that must follow a committed transaction, at least once
    // (Tx::enqueue stores it; <oms/abi.h> oms_task_def has the whole contract).
    // The handler runs on a host's task thread, outside any transaction (use
    // Tx::begin, and hold none across a slow call). Returning is success;
    // throwing a 5xx oms::Error (or any other exception) runs it again later,
    // up to `max_attempts` runs (0: the host's default); throwing a 4xx gives up.
    void task(std::string name, TaskHandler handler, uint32_t max_attempts = 0) {
        tasks_.push_back({std::move(name), max_attempts, std::make_unique<TaskHandler>(std::move(handler))});
    }
    // `oms-host <plugin> <name> [--option value ...]`. The handler prints to
    // stdout and opens its own transactions; throwing oms::Error exits 2 for a
    // 4xx status, 1 otherwise, printing the detail.
    CommandSpec& command(std::string name, std::string help, CommandHandler handler) {
        auto& c = commands_.emplace_back(std::make_unique<CommandSpec>());
        c->name_ = std::move(name);
        c->help_ = std::move(help);
        c->handler_ = std::make_unique<CommandHandler>(std::move(handler));
        return *c;
    }

    // Called by OMS_PLUGIN's init after setup: hands everything to the host.
    void register_all() {
        using detail::host;
        using detail::self;
        detail::ErrorSlot err;
        auto check = [&](int rc) {
            if (rc != OMS_OK) err.raise();
        };
        for (auto& m : migrations_) {
            oms_migration_def d{sizeof(oms_migration_def), m.version, m.name.c_str(), detail::str(m.sql)};
            check(host->register_migration(self, &d, err.get()));
        }
        for (auto& r : routes_) {
            oms_route_def d{};
            d.struct_size = sizeof d;
            d.method = r->method_.c_str();
            d.path = r->path_.c_str();
            d.flags = r->flags_;
            d.role = r->role_.empty() ? nullptr : r->role_.c_str();
            d.handler = &Plugin::route_trampoline;
            d.user_data = r.get();
            d.summary = r->summary_.c_str();
            r->openapi_ = r->doc_.empty() ? std::string() : r->doc_.dump();
            d.openapi = r->openapi_.empty() ? nullptr : r->openapi_.c_str();
            check(host->register_route(self, &d, err.get()));
        }
        // Contracts (ABI 1.3): an older host has no place for them and checks nothing.
        if (OMS_HOST_HAS(register_service_use)) {
            for (auto& e : events_) {
                oms_event_def d{sizeof(oms_event_def), e.name.c_str(), e.summary.c_str(), e.schema.c_str()};
                check(host->register_event(self, &d, err.get()));
            }
            for (auto& c : calls_) {
                oms_service_use_def d{sizeof(oms_service_use_def), c->service_.c_str(),
                                      c->optional_ ? OMS_USE_OPTIONAL : 0u};
                check(host->register_service_use(self, &d, err.get()));
            }
        }
        for (auto& s : subscriptions_) {
            if (s->after_commit_ && !OMS_HOST_HAS(register_task))
                throw Error(500, "abi_mismatch",
                            "this plugin subscribes after commit, which needs a host of ABI 1.2 or later");
            oms_subscription_def d{};
            d.struct_size = sizeof d;
            d.event = s->event_.c_str();
            d.handler = s->after_commit_ ? &Plugin::after_commit_trampoline : &Plugin::event_trampoline;
            d.user_data = s->after_commit_ ? static_cast<void*>(s->after_commit_.get())
                                           : static_cast<void*>(s->handler_.get());
            d.flags = (s->after_commit_ ? OMS_SUBSCRIBE_AFTER_COMMIT : 0u) | (s->optional_ ? OMS_SUBSCRIBE_OPTIONAL : 0u);
            check(host->subscribe(self, &d, err.get()));
        }
        for (auto& s : services_) {
            s->args_text_ = s->args_.is_null() ? std::string() : s->args_.dump();
            s->result_text_ = s->result_.is_null() ? std::string() : s->result_.dump();
            oms_service_def d{};
            d.struct_size = sizeof d;
            d.name = s->name_.c_str();
            d.handler = &Plugin::service_trampoline;
            d.user_data = s->handler_.get();
            d.description = s->description_.c_str();
            d.args_schema = s->args_text_.empty() ? nullptr : s->args_text_.c_str();
            d.result_schema = s->result_text_.empty() ? nullptr : s->result_text_.c_str();
            check(host->register_service(self, &d, err.get()));
        }
        for (auto& j : jobs_) {
            oms_job_def d{sizeof(oms_job_def), j.name.c_str(), static_cast<uint32_t>(j.every.count()),
                          &Plugin::job_trampoline, j.handler.get()};
            check(host->register_job(self, &d, err.get()));
        }
        if (!tasks_.empty() && !OMS_HOST_HAS(register_task))
            throw Error(500, "abi_mismatch", "this plugin runs tasks, which need a host of ABI 1.2 or later");
        for (auto& t : tasks_) {
            oms_task_def d{sizeof(oms_task_def), t.name.c_str(), &Plugin::task_trampoline, t.handler.get(),
                           t.max_attempts};
            check(host->register_task(self, &d, err.get()));
        }
        for (auto& c : commands_) {
            std::vector<oms_option_def> opts;
            for (auto& o : c->options_) opts.push_back({o.name.c_str(), o.help.c_str(), o.flags});
            oms_command_def d{sizeof(oms_command_def), c->name_.c_str(), c->help_.c_str(), opts.data(),
                              opts.size(), &Plugin::command_trampoline, c->handler_.get(), sizeof(oms_option_def)};
            check(host->register_command(self, &d, err.get()));
        }
    }

private:
    static int route_trampoline(void* ud, oms_request* req, oms_response* resp, oms_error* err) {
        return detail::guard(err, [&] {
            const RouteSpec& route = *static_cast<const RouteSpec*>(ud);
            Request request(req);
            // The body is parsed here, once (the host only checked its type and
            // nesting depth): malformed JSON is a 400 whether or not the handler reads it.
            if (!(route.flags_ & OMS_ROUTE_RAW_BODY)) request.json_body();
            Response r = (*route.handler_)(request);
            detail::host->response_set_status(resp, r.status);
            for (auto& [k, v] : r.headers) detail::host->response_set_header(resp, detail::str(k), detail::str(v));
            detail::host->response_set_body(resp, detail::str(r.body), detail::str(r.content_type));
        });
    }
    static int event_trampoline(void* ud, oms_tx* tx, oms_str event, oms_str payload, oms_error* err) {
        return detail::guard(err, [&] {
            Tx t = Tx::borrow(tx);
            (*static_cast<EventHandler*>(ud))(t, detail::view(event), json::parse(detail::view(payload)));
        });
    }
    static int after_commit_trampoline(void* ud, oms_tx*, oms_str event, oms_str payload, oms_error* err) {
        return detail::guard(err, [&] {
            (*static_cast<AfterCommitHandler*>(ud))(detail::view(event), json::parse(detail::view(payload)));
        });
    }
    static int service_trampoline(void* ud, oms_tx* tx, oms_str args, oms_buffer* out, oms_error* err) {
        return detail::guard(err, [&] {
            Tx t = Tx::borrow(tx);
            auto a = detail::view(args);
            ServiceResult result = (*static_cast<ServiceHandler*>(ud))(t, a.empty() ? json::object() : json::parse(a));
            if (!result.is_text) result.text = result.value.dump();
            detail::host->buffer_append(out, detail::str(result.text));
        });
    }
    static int job_trampoline(void* ud, oms_error* err) {
        return detail::guard(err, [&] { (*static_cast<JobHandler*>(ud))(); });
    }
    static int task_trampoline(void* ud, const oms_task* t, oms_error* err) {
        return detail::guard(err, [&] {
            auto payload = detail::view(t->payload_json);
            Task task{std::string(detail::view(t->id)), std::string(detail::view(t->name)),
                      payload.empty() ? json::object() : json::parse(payload), t->attempt};
            (*static_cast<TaskHandler*>(ud))(task);
        });
    }
    static int command_trampoline(void* ud, const oms_command_args* args, oms_error* err) {
        return detail::guard(err, [&] { (*static_cast<CommandHandler*>(ud))(CommandArgs(args)); });
    }

    struct Migration {
        uint32_t version;
        std::string name, sql;
    };
    struct EventDecl {
        std::string name, summary, schema;
    };
    struct Job {
        std::string name;
        std::chrono::milliseconds every;
        std::unique_ptr<JobHandler> handler;
    };
    std::vector<std::unique_ptr<RouteSpec>> routes_;
    std::vector<Migration> migrations_;
    std::vector<std::unique_ptr<SubscriptionSpec>> subscriptions_;
    std::vector<std::unique_ptr<ServiceSpec>> services_;
    std::vector<EventDecl> events_;
    std::vector<std::unique_ptr<CallSpec>> calls_;
    std::vector<Job> jobs_;
    struct TaskSpec {
        std::string name;
        uint32_t max_attempts;
        std::unique_ptr<TaskHandler> handler;
    };
    std::vector<TaskSpec> tasks_;
    std::vector<std::unique_ptr<CommandSpec>> commands_;
};

namespace detail {

// The plugin's registrations live until shutdown (handlers are referenced by
// the host through user_data).
inline std::unique_ptr<Plugin> registry;

inline int init_plugin(const oms_host_api* h, oms_plugin* s, oms_error* err, void (*setup)(Plugin&),
                       const oms_migration_def* (*embedded)(size_t*)) {
    if (h->abi_major != OMS_ABI_MAJOR || h->struct_size < kAbi10TableSize) {
        const char msg[] = "the host's SDK is older than the one this plugin was built with";
        h->error_set(err, 500, oms_str{"abi_mismatch", 12}, oms_str{msg, sizeof msg - 1});
        return OMS_FAIL;
    }
    host = h;
    self = s;
    return guard(err, [&] {
        registry = std::make_unique<Plugin>();
        if (embedded) {
            size_t n = 0;
            const oms_migration_def* m = embedded(&n);
            for (size_t i = 0; i < n; ++i)
                registry->migration(m[i].version, m[i].name, std::string(view(m[i].sql)));
        }
        setup(*registry);
        registry->register_all();
    });
}

}  // namespace detail
}  // namespace oms

// Defined by the source file oms_add_plugin() generates from the plugin's
// migrations folder; absent (null) when the plugin has none.
extern "C" __attribute__((weak)) const oms_migration_def* oms_sdk_embedded_migrations(size_t* count);

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

// OMS_PLUGIN(name, version, description, setup_function, dependencies...)
// defines the plugin's one exported symbol.
#define OMS_PLUGIN(NAME, VERSION, DESCRIPTION, SETUP, ...)                                              \
    extern "C" OMS_EXPORT const oms_plugin_descriptor* oms_plugin_entry(void) {                         \
        static const char* const dependencies[] = {__VA_ARGS__ __VA_OPT__(, ) nullptr};                 \
        static const oms_plugin_descriptor descriptor = {                                               \
            OMS_ABI_MAJOR,                                                                              \
            OMS_ABI_MINOR,                                                                              \
            sizeof(oms_plugin_descriptor),                                                              \
            NAME,                                                                                       \
            VERSION,                                                                                    \
            DESCRIPTION,                                                                                \
            dependencies,                                                                               \
            [](const oms_host_api* host, oms_plugin* self, oms_error* err) -> int {                     \
                return ::oms::detail::init_plugin(host, self, err, &SETUP, &oms_sdk_embedded_migrations); \
            },                                                                                          \
            [] { ::oms::detail::registry.reset(); },                                                    \
        };                                                                                              \
        return &descriptor;                                                                             \
    }
