// Route matching on arbitrary methods and paths against the real route table's shapes.
#include <string>

#include "router.hpp"

namespace {
oms::host::Router<int>& routes() {
    static oms::host::Router<int> r = [] {
        oms::host::Router<int> t;
        int n = 0;
        for (const char* p : {"/health", "/health/live", "/metrics", "/openapi.json", "/users/create", "/users/login",
                              "/users/me", "/inventory", "/inventory/:product_id", "/orders", "/orders/:id",
                              "/orders/:id/cancel", "/orders/:id/status", "/payments", "/payments/verify",
                              "/payments/webhook", "/payments/:id", "/payments/:id/refund", "/a/:x/:y/:z"}) {
            t.add("GET", p, n++);
            t.add("POST", p, n++);
        }
        return t;
    }();
    return r;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto space = in.find(' ');
    std::string_view method = space == std::string_view::npos ? "GET" : in.substr(0, space);
    std::string_view path = space == std::string_view::npos ? in : in.substr(space + 1);
    auto m = routes().match(method, path);
    if (m.target && !m.allowed.empty()) __builtin_trap();  // a match is never also a 405
    for (const auto& [name, value] : m.params)
        if (name.empty()) __builtin_trap();
    return 0;
}
