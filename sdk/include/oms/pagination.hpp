// Keyset pagination for list endpoints, as SPEC §3 describes:
//   ?limit= (default 20, max 100) and an opaque ?cursor=;
//   body {"data": [...], "next_cursor": "..." | null}.
// A cursor holds the sort key of the last row served (for example its
// created_at and id), so page N is one index range scan, like page 1:
//   WHERE (created_at, id) < ($after_time, $after_id) ORDER BY created_at DESC, id DESC LIMIT $limit + 1
// Fetch limit + 1 rows: the extra row only says whether another page exists.
#pragma once

#include <oms/plugin.hpp>
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(hidden)
#endif

namespace oms::pagination {

inline constexpr int kDefaultLimit = 20;
inline constexpr int kMaxLimit = 100;

namespace detail {
inline constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

inline std::string base64url(std::string_view in) {
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (unsigned char c : in) {
        acc = (acc << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(kAlphabet[(acc >> bits) & 63]);
        }
    }
    if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
    return out;
}

inline std::optional<std::string> unbase64url(std::string_view in) {
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        const char* p = std::char_traits<char>::find(kAlphabet, 64, c);
        if (!p) return std::nullopt;
        acc = (acc << 6) | static_cast<uint32_t>(p - kAlphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFF));
        }
    }
    return out;
}
}  // namespace detail

struct Page {
    int limit = kDefaultLimit;
    std::optional<json> after;  // the sort key the cursor carried; nullopt on the first page
};

// Reads ?limit= and ?cursor=; a bad value is a 400 (`invalid_parameter`).
// Without ?limit=, a page has `default_limit` items (1..kMaxLimit): say the
// same to describe().
inline Page from_request(const Request& req, int default_limit = kDefaultLimit) {
    Page page;
    page.limit = default_limit < 1 ? 1 : default_limit > kMaxLimit ? kMaxLimit : default_limit;
    if (auto l = req.query("limit")) {
        int n = 0;
        auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), n);
        if (ec != std::errc() || p != l->data() + l->size() || n < 1 || n > kMaxLimit)
            throw Error(400, "invalid_parameter", "limit must be an integer from 1 to 100.",
                        {{"limit", "must be an integer from 1 to 100"}});
        page.limit = n;
    }
    if (auto c = req.query("cursor"); c && !c->empty()) {
        auto raw = c->size() <= 1024 ? detail::unbase64url(*c) : std::nullopt;
        json key = raw ? json::parse(*raw, nullptr, false) : json();
        if (!key.is_object()) throw Error(400, "invalid_cursor", "The cursor is not one this API issued.");
        page.after = std::move(key);
    }
    return page;
}

// The cursor that continues after a row with this sort key.
inline std::string make_cursor(const json& key) { return detail::base64url(key.dump()); }

// {"data": rows[0..limit), "next_cursor": cursor of the last row served, or null}.
// `rows` holds up to limit + 1 items; `key_of(item)` gives an item's sort key.
template <class KeyOf>
json page_body(json rows, int limit, KeyOf key_of) {
    json next = nullptr;
    if (rows.size() > static_cast<size_t>(limit)) {
        rows.erase(rows.begin() + limit, rows.end());
        next = make_cursor(key_of(rows.back()));
    }
    return {{"data", std::move(rows)}, {"next_cursor", std::move(next)}};
}

// The same page when each row already holds its item as JSON text (column
// `item_column`, built by PostgreSQL): the body is written around those texts,
// nothing is parsed. `key_of(row)` gives the sort key of the last row served.
template <class KeyOf>
std::string page_text(const Result& rows, std::string_view item_column, int limit, KeyOf key_of) {
    size_t n = std::min(rows.size(), static_cast<size_t>(limit));
    std::string body = R"({"data":[)";
    for (size_t i = 0; i < n; ++i) {
        if (i) body += ',';
        body += rows[i].text(item_column);
    }
    body += R"(],"next_cursor":)";
    body += rows.size() > n ? json(make_cursor(key_of(rows[n - 1]))).dump() : "null";
    return body + '}';
}

// OpenAPI: the body of a page of `item` schemas.
inline json page_schema(json item) {
    return {{"type", "object"},
            {"required", {"data", "next_cursor"}},
            {"properties",
             {{"data", {{"type", "array"}, {"items", std::move(item)}}},
              {"next_cursor",
               {{"type", {"string", "null"}}, {"description", "Pass as ?cursor= for the next page; null on the last"}}}}}};
}

// OpenAPI for a list route: ?limit=, ?cursor= and a 200 page of `item` schemas.
inline Plugin::RouteSpec& describe(Plugin::RouteSpec& route, json item, int default_limit = kDefaultLimit) {
    return route
        .query_param("limit", {{"type", "integer"}, {"minimum", 1}, {"maximum", kMaxLimit}, {"default", default_limit}},
                     "Items per page")
        .query_param("cursor", {{"type", "string"}}, "The next_cursor of the previous page")
        .response_schema(200, page_schema(std::move(item)))
        .error(400, "invalid_parameter, invalid_cursor: a bad query parameter or a cursor this API did not issue");
}

}  // namespace oms::pagination

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif
