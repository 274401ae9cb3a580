// hello — the smallest useful OMS plugin; copy it to start your own.
//
//   GET /hello/:name  ->  {"greeting":"hello, <name>","count":<N>,"built_with":"gcc libstdc++"}
//
// Each call records the greeting in the plugin's own table (migrations/) inside
// the request's transaction: the host commits it when the handler returns and
// rolls it back if the handler throws (an oms::Error becomes a problem+json
// answer with its status and code; any other exception a 500).
#include <oms/plugin.hpp>

#include <cstdint>
#include <string>

namespace {

// The compiler and C++ standard library this .so was built with. Only C types
// cross the plugin boundary, so either kind loads into the same host.
constexpr const char* built_with() {
#if defined(__clang__) && defined(_LIBCPP_VERSION)
    return "clang libc++";
#elif defined(__clang__)
    return "clang libstdc++";
#elif defined(_LIBCPP_VERSION)
    return "gcc libc++";
#else
    return "gcc libstdc++";
#endif
}

// Called once at start-up: describe routes (and services, events, jobs...).
void setup(oms::Plugin& p) {
    p.route("GET", "/hello/:name", [](oms::Request& req) {
         std::string name = req.param("name");  // the ":name" segment
         if (name.size() > 64) throw oms::bad_request("name_too_long", "Names have at most 64 bytes.");
         auto& tx = req.tx();                   // begun on first use; the host commits it
         tx.exec("INSERT INTO hello_greetings (name) VALUES ($1)", name);
         auto count = tx.query("SELECT count(*) AS n FROM hello_greetings WHERE name = $1", name)
                          .at(0)
                          .get<int64_t>("n");
         return oms::Response::json(
             {{"greeting", "hello, " + name}, {"count", count}, {"built_with", built_with()}});
     }).summary("Greet someone and count how often they have been greeted");
}

}  // namespace

// The plugin's one exported symbol: name, version, description, setup function.
OMS_PLUGIN("hello", "1.0.0", "Says hello and counts greetings", setup)
