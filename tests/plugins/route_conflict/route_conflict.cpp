// Registers a route probe already owns: the host must refuse to start.
#include <oms/plugin.hpp>

namespace {
void setup(oms::Plugin& p) {
    p.route("GET", "/probe/items/:item", [](oms::Request&) { return oms::Response::json({{"mine", true}}); });
}
}  // namespace

OMS_PLUGIN("route_conflict", "1.0.0", "Test plugin with a conflicting route", setup)
