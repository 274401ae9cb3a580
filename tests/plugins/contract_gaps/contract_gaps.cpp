// A plugin whose declared needs no loaded plugin provides (CONTRACT_GAP):
//   subscription  subscribes to nobody.happened        → the host refuses to start
//   call          calls the service nobody.answers     → the host refuses to start
//   optional      both, marked optional                → the host starts
#include <oms/plugin.hpp>

namespace {

void setup(oms::Plugin& p) {
    std::string gap = oms::config("CONTRACT_GAP", "optional");
    auto& subscription = p.subscribe("nobody.happened", [](oms::Tx&, std::string_view, const oms::json&) {});
    auto& call = p.calls("nobody.answers");
    if (gap == "subscription") call.optional();
    else if (gap == "call") subscription.optional();
    else {
        subscription.optional();
        call.optional();
    }
}

}  // namespace

OMS_PLUGIN("contract_gaps", "1.0.0", "Test plugin: needs that no loaded plugin provides", setup)
