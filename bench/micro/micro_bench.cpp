// Google Benchmark suite for the pure functions on every request's path:
// route matching, request-body validation (parse + POST /orders rules), JWT
// verification and money parsing. Built with the tree (target micro_bench),
// never run by the test command:  build/bench/micro_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <oms/money.hpp>

#include <string>

#include "auth.hpp"
#include "order_input.hpp"
#include "router.hpp"

namespace {

oms::host::Router<int> routes() {
    oms::host::Router<int> r;
    int n = 0;
    for (const char* p : {"/health", "/health/live", "/metrics", "/openapi.json", "/users/create", "/users/login",
                          "/users/me", "/inventory", "/inventory/:product_id", "/orders", "/orders/:id",
                          "/orders/:id/cancel", "/orders/:id/status", "/payments", "/payments/verify",
                          "/payments/webhook", "/payments/:id", "/payments/:id/refund"}) {
        r.add("GET", p, n++);
        r.add("POST", p, n++);
    }
    return r;
}

void RouteMatchStatic(benchmark::State& state) {
    auto r = routes();
    for (auto _ : state) benchmark::DoNotOptimize(r.match("GET", "/health/live"));
}
BENCHMARK(RouteMatchStatic);

void RouteMatchWithParameter(benchmark::State& state) {
    auto r = routes();
    for (auto _ : state) benchmark::DoNotOptimize(r.match("POST", "/orders/7e46c596-b9a5-4410-a927-db03e5fa2724/cancel"));
}
BENCHMARK(RouteMatchWithParameter);

void RouteMatchNotFound(benchmark::State& state) {
    auto r = routes();
    for (auto _ : state) benchmark::DoNotOptimize(r.match("GET", "/no/such/route"));
}
BENCHMARK(RouteMatchNotFound);

// The body of POST /orders with three lines, parsed and validated as the orders plugin does.
void ValidateOrderBody(benchmark::State& state) {
    const std::string body =
        R"({"currency":"INR","total_amount":1249.5,"items":[)"
        R"({"product_id":"7e46c596-b9a5-4410-a927-db03e5fa2724","quantity":2,"price":249.5},)"
        R"({"product_id":"1ec6fc42-1438-41fd-aca2-701b225caf75","quantity":1,"price":500},)"
        R"({"product_id":"4bbc2433-a23b-e245-3ea5-531f4cb58303","quantity":1,"price":250}]})";
    for (auto _ : state) {
        auto order = orders::parse_new_order(oms::json::parse(body));
        benchmark::DoNotOptimize(order);
    }
}
BENCHMARK(ValidateOrderBody);

void VerifyJwt(benchmark::State& state) {
    oms::host::TokenService tokens("micro-bench-secret-micro-bench-secret-0123", 3600);
    std::string token = tokens.issue("7e46c596-b9a5-4410-a927-db03e5fa2724", "customer").token;
    for (auto _ : state) benchmark::DoNotOptimize(tokens.verify(token));
}
BENCHMARK(VerifyJwt);

void RefuseTamperedJwt(benchmark::State& state) {
    oms::host::TokenService tokens("micro-bench-secret-micro-bench-secret-0123", 3600);
    std::string token = tokens.issue("7e46c596-b9a5-4410-a927-db03e5fa2724", "customer").token;
    token.back() = token.back() == 'A' ? 'B' : 'A';
    for (auto _ : state) benchmark::DoNotOptimize(tokens.verify(token));
}
BENCHMARK(RefuseTamperedJwt);

void ParseMoney(benchmark::State& state) {
    const auto amount = oms::json::parse("1249.99");
    for (auto _ : state) benchmark::DoNotOptimize(oms::money::parse_json(amount, "INR"));
}
BENCHMARK(ParseMoney);

void ParseMoneyTooManyDecimals(benchmark::State& state) {
    const auto amount = oms::json::parse("1249.999");
    for (auto _ : state) benchmark::DoNotOptimize(oms::money::parse_json(amount, "INR"));
}
BENCHMARK(ParseMoneyTooManyDecimals);

}  // namespace

BENCHMARK_MAIN();
