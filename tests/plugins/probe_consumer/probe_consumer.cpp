// Depends on probe: proves dependency order, cross-plugin services and
// cross-plugin event subscriptions.
#include <oms/plugin.hpp>

namespace {

void setup(oms::Plugin& p) {
    p.route("GET", "/consumer/double/:n", [](oms::Request& req) {
        if (!oms::service_exists("probe.double")) throw oms::Error(500, "missing_service", "probe.double is gone");
        auto out = req.tx().call("probe.double", {{"n", std::stoll(req.param("n"))}});
        return oms::Response::json({{"via", "consumer"}, {"doubled", out.at("doubled")}});
    });
    p.calls("probe.double");
    p.subscribe("probe.item_created", [](oms::Tx& tx, std::string_view, const oms::json& payload) {
        tx.exec("INSERT INTO probe_events (event, item_id) VALUES ('consumer.saw', $1)",
                payload.at("item_id").get<int64_t>());
    });
}

}  // namespace

OMS_PLUGIN("probe_consumer", "1.0.0", "Test plugin depending on probe", setup, "probe")
