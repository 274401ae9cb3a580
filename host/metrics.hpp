// GET /metrics: Prometheus text exposition (format 0.0.4).
//
// Request counters and latency histograms are kept per route template in
// slots allocated when the server starts, so recording a request is a few
// relaxed atomic additions on the thread that answers it: no lock, no map
// lookup, no allocation. Everything else (database pool, plugins, process) is
// read when scraped.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace oms::host {

struct RouteInfo;
class Runtime;
template <class Target>
class Router;

class HttpMetrics {
public:
    // Upper bounds in seconds: 0.5 ms (a reactor-answered probe) to 5 s (a slow transaction).
    static constexpr std::array<double, 14> kBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                    0.1,    0.25,  0.5,    1,     2.5,  5,     10};

    // One slot per route, one per route template for OPTIONS (CORS preflights),
    // and one per method for requests no route matched (route="unmatched").
    explicit HttpMetrics(const Router<RouteInfo>& router);
    ~HttpMetrics();

    int route_slot(const RouteInfo& route) const;
    int preflight_slot(const RouteInfo& route) const;  // OPTIONS on the route's path
    int unmatched_slot(std::string_view method) const;

    void observe(int slot, int status, std::chrono::nanoseconds elapsed) noexcept;

    // A gauge read at scrape time (in-flight requests, queue length ...).
    void add_gauge(std::string name, std::string help, std::function<double()> read);

    // Appends this object's families to `out`.
    void render(std::string& out) const;

    uint64_t requests(int slot, int status) const;  // for tests

private:
    struct Slot;
    struct Gauge {
        std::string name, help;
        std::function<double()> read;
    };
    std::vector<std::unique_ptr<Slot>> slots_;
    std::vector<int> route_slot_, preflight_slot_;  // by RouteInfo::id
    int unmatched_base_ = 0;
    std::vector<Gauge> gauges_;
};

// The whole scrape: HTTP metrics (when serving), database pool, plugins, build, process.
std::string render_metrics(Runtime& rt);

// A Prometheus label value: backslash, double quote and newline escaped.
std::string prometheus_label(std::string_view value);

inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace oms::host
