// A plugin whose one migration outlasts a short statement timeout (as an index
// on a big table outlasts the default one): migrations must run without it.
#include <oms/plugin.hpp>

namespace {
void setup(oms::Plugin&) {}
}  // namespace

OMS_PLUGIN("slow_migration", "1.0.0", "Test plugin with a slow migration", setup)
