// Route table: "/orders/:id" patterns, static segments preferred over
// parameters, 404 vs 405 (with the allowed methods) told apart.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace oms::host {

using PathParams = std::vector<std::pair<std::string, std::string>>;

template <class Target>
class Router {
public:
    struct Match {
        const Target* target = nullptr;     // set when found
        PathParams params;
        std::vector<std::string> allowed;   // set on 405: the methods that do match the path
        const Target* any = nullptr;        // the best target for the path, whatever its method (OPTIONS)
    };

    // Returns the existing target's pattern on conflict (same method and the
    // same shape, parameter names aside), else registers and returns nullopt.
    std::optional<std::string> add(std::string method, const std::string& pattern, Target target) {
        auto views = split(pattern);
        Entry e{std::move(method), pattern, std::vector<std::string>(views.begin(), views.end()), std::move(target)};
        for (const auto& x : entries_)
            if (x.method == e.method && same_shape(x.segments, e.segments)) return x.pattern;
        entries_.push_back(std::move(e));
        return std::nullopt;
    }

    Match match(std::string_view method, std::string_view path) const {
        Match m;
        auto segs = split(path);
        const Entry* best = nullptr;
        size_t best_score = 0, any_score = 0;
        for (const auto& e : entries_) {
            size_t score = 0;
            if (!matches(e.segments, segs, score)) continue;
            if (!m.any || score > any_score) {
                m.any = &e.target;
                any_score = score;
            }
            if (e.method != method) {
                if (std::find(m.allowed.begin(), m.allowed.end(), e.method) == m.allowed.end())
                    m.allowed.push_back(e.method);
                continue;
            }
            if (!best || score > best_score) {
                best = &e;
                best_score = score;
            }
        }
        if (best) {
            m.allowed.clear();
            m.target = m.any = &best->target;
            for (size_t i = 0; i < segs.size(); ++i)
                if (!best->segments[i].empty() && best->segments[i][0] == ':')
                    m.params.emplace_back(best->segments[i].substr(1), percent_decode(segs[i]));
        }
        return m;
    }

    template <class F>
    void for_each(F&& f) const {
        for (const auto& e : entries_) f(e.method, e.pattern, e.target);
    }

    static std::string percent_decode(std::string_view s) {
        std::string out;
        out.reserve(s.size());
        for (size_t i = 0; i < s.size(); ++i) {
            if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
                out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
                i += 2;
            } else {
                out.push_back(s[i]);
            }
        }
        return out;
    }

private:
    struct Entry {
        std::string method;
        std::string pattern;
        std::vector<std::string> segments;
        Target target;
    };

    static int hex(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    // "/a/b/" and "/a/b" are the same path; empty segments ("//") are kept so
    // they never match a parameter.
    // Views into `path` (no copies on the request path).
    static std::vector<std::string_view> split(std::string_view path) {
        std::vector<std::string_view> out;
        if (!path.empty() && path.front() == '/') path.remove_prefix(1);
        if (!path.empty() && path.back() == '/') path.remove_suffix(1);
        if (path.empty()) return out;
        size_t start = 0;
        while (true) {
            size_t slash = path.find('/', start);
            out.emplace_back(path.substr(start, slash == std::string_view::npos ? path.npos : slash - start));
            if (slash == std::string_view::npos) break;
            start = slash + 1;
        }
        return out;
    }

    static bool same_shape(const std::vector<std::string>& a, const std::vector<std::string>& b) {
        if (a.size() != b.size()) return false;
        for (size_t i = 0; i < a.size(); ++i) {
            bool pa = !a[i].empty() && a[i][0] == ':', pb = !b[i].empty() && b[i][0] == ':';
            if (pa != pb || (!pa && a[i] != b[i])) return false;
        }
        return true;
    }

    // Score: a bit per segment, earlier static segments weigh more.
    static bool matches(const std::vector<std::string>& pattern, const std::vector<std::string_view>& segs,
                        size_t& score) {
        if (pattern.size() != segs.size()) return false;
        score = 0;
        for (size_t i = 0; i < pattern.size(); ++i) {
            score <<= 1;
            if (!pattern[i].empty() && pattern[i][0] == ':') {
                if (segs[i].empty()) return false;
            } else if (pattern[i] == segs[i]) {
                score |= 1;
            } else {
                return false;
            }
        }
        return true;
    }

    std::vector<Entry> entries_;
};

}  // namespace oms::host
