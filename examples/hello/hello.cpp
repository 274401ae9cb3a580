// hello — the smallest useful OMS plugin (one route, one migration); copy it to start your own.
//
//   GET /hello/:name  ->  {"greeting":"hello, <name>","count":<N>,"built_with":"gcc libstdc++"}
//
// Each call records the greeting in the plugin's own table (migrations/) inside the
// request's transaction: the host commits it when the handler returns and rolls it back
// if the handler throws (an oms::Error becomes a problem+json answer, anything else a 500).
#include <oms/plugin.hpp>

// The compiler and C++ library of this .so: only C types cross the plugin boundary,
// so a clang/libc++ plugin loads into a g++/libstdc++ host (tests/abi checks it).
#ifdef _LIBCPP_VERSION
#define HELLO_STDLIB "libc++"
#else
#define HELLO_STDLIB "libstdc++"
#endif
#ifdef __clang__
#define HELLO_BUILT_WITH "clang " HELLO_STDLIB
#else
#define HELLO_BUILT_WITH "gcc " HELLO_STDLIB
#endif

static void setup(oms::Plugin& p) {  // called once at start-up: routes, events, services...
    p.route("GET", "/hello/:name", [](oms::Request& req) {
         std::string name = req.param("name");  // the ":name" segment
         if (name.size() > 64) throw oms::bad_request("name_too_long", "Names have at most 64 bytes.");
         auto& tx = req.tx();                   // begun on first use; the host commits it
         tx.exec("INSERT INTO hello_greetings (name) VALUES ($1)", name);
         auto count = tx.query("SELECT count(*) AS n FROM hello_greetings WHERE name = $1", name)
                          .at(0).get<int64_t>("n");
         return oms::Response::json(
             {{"greeting", "hello, " + name}, {"count", count}, {"built_with", HELLO_BUILT_WITH}});
     }).summary("Greet someone and count how often they have been greeted");
}

// The plugin's one exported symbol: name, version, description, setup function.
OMS_PLUGIN("hello", "1.0.0", "Says hello and counts greetings", setup)
