// Request metrics: slots per route template, histogram buckets, exposition text.
#include "metrics.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include "runtime.hpp"

using namespace oms::host;
using namespace std::chrono_literals;

namespace {

RouteInfo route(std::string method, std::string path) {
    RouteInfo r;
    r.plugin = "shop";
    r.method = std::move(method);
    r.path = std::move(path);
    r.builtin = [](RequestContext&) { return Reply{}; };
    return r;
}

// The value of the first sample line starting with `prefix` (name and labels), or -1.
double value_of(const std::string& text, const std::string& prefix) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(prefix + " ", 0) == 0) return std::stod(line.substr(prefix.size() + 1));
    return -1;
}

}  // namespace

TEST(HttpMetrics, CountsByTemplateMethodAndStatus) {
    Runtime rt(Config::from_map({}));
    rt.add_route(route("GET", "/orders/:id"));
    rt.add_route(route("POST", "/orders/:id"));
    HttpMetrics m(rt.router());
    auto match = rt.router().match("GET", "/orders/42");
    ASSERT_NE(match.target, nullptr);
    int get = m.route_slot(*match.target);
    m.observe(get, 200, 300us);
    m.observe(get, 200, 3ms);
    m.observe(get, 404, 20s);
    m.observe(m.unmatched_slot("DELETE"), 404, 1ms);
    m.observe(m.unmatched_slot("BREW"), 400, 1ms);
    // Both routes of the path share one preflight slot.
    auto post = rt.router().match("POST", "/orders/42");
    EXPECT_EQ(m.preflight_slot(*match.target), m.preflight_slot(*post.target));
    m.observe(m.preflight_slot(*post.target), 204, 100us);
    EXPECT_EQ(m.requests(get, 200), 2u);

    std::string out;
    m.render(out);
    EXPECT_EQ(value_of(out, R"(oms_http_requests_total{route="/orders/:id",method="GET",status="200"})"), 2);
    EXPECT_EQ(value_of(out, R"(oms_http_requests_total{route="/orders/:id",method="GET",status="404"})"), 1);
    EXPECT_EQ(value_of(out, R"(oms_http_requests_total{route="unmatched",method="DELETE",status="404"})"), 1);
    EXPECT_EQ(value_of(out, R"(oms_http_requests_total{route="unmatched",method="other",status="400"})"), 1);
    EXPECT_EQ(value_of(out, R"(oms_http_requests_total{route="/orders/:id",method="OPTIONS",status="204"})"), 1);
    EXPECT_EQ(out.find("/orders/42"), std::string::npos);  // never a raw path
    EXPECT_EQ(out.find(R"(method="POST")"), std::string::npos);  // nothing counted, nothing shown

    // Buckets are cumulative; +Inf and _count hold everything; _sum is in seconds.
    std::string h = R"(oms_http_request_duration_seconds_bucket{route="/orders/:id",method="GET",le=)";
    EXPECT_EQ(value_of(out, h + R"("0.0005"})"), 1);
    EXPECT_EQ(value_of(out, h + R"("0.001"})"), 1);
    EXPECT_EQ(value_of(out, h + R"("0.005"})"), 2);
    EXPECT_EQ(value_of(out, h + R"("10"})"), 2);
    EXPECT_EQ(value_of(out, h + R"("+Inf"})"), 3);
    EXPECT_EQ(value_of(out, R"(oms_http_request_duration_seconds_count{route="/orders/:id",method="GET"})"), 3);
    EXPECT_NEAR(value_of(out, R"(oms_http_request_duration_seconds_sum{route="/orders/:id",method="GET"})"), 20.0033,
                1e-9);
    EXPECT_NE(out.find("# TYPE oms_http_request_duration_seconds histogram"), std::string::npos);
    EXPECT_NE(out.find("# TYPE oms_http_requests_total counter"), std::string::npos);
}

TEST(HttpMetrics, GaugesAreReadWhenRendered) {
    Runtime rt(Config::from_map({}));
    HttpMetrics m(rt.router());
    int n = 3;
    m.add_gauge("oms_test_things", "Things.", [&] { return static_cast<double>(n); });
    n = 7;
    std::string out;
    m.render(out);
    EXPECT_EQ(value_of(out, "oms_test_things"), 7);
    EXPECT_NE(out.find("# TYPE oms_test_things gauge"), std::string::npos);
}

TEST(HttpMetrics, LabelValuesAreEscaped) {
    EXPECT_EQ(prometheus_label(R"(a"b\c)" "\n"), R"(a\"b\\c\n)");
}

TEST(Metrics, TheScrapeNamesBuildAndProcess) {
    Runtime rt(Config::from_map({}));
    std::string out = render_metrics(rt);
    EXPECT_NE(out.find("oms_build_info{version=\"" OMS_VERSION "\",abi=\"1."), std::string::npos) << out;
    EXPECT_GT(value_of(out, "process_start_time_seconds"), 1.6e9);
    EXPECT_GE(value_of(out, "oms_uptime_seconds"), 0);
    EXPECT_GT(value_of(out, "process_resident_memory_bytes"), 0);
    EXPECT_GT(value_of(out, "process_open_fds"), 0);
    EXPECT_EQ(out.find("oms_db_pool_size"), std::string::npos);  // no database here
}
