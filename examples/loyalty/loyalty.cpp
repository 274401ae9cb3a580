// loyalty — points for paid orders, built only on the stock plugins' public
// contracts (`oms-host contracts`), never on their tables:
//
//   after commit of order.paid      1 point per 100 minor units of the total
//                                   (25.00 INR → 25 points); staff (role admin,
//                                   asked through users.get) earn none
//   after commit of order.refunded  the order's points are taken back
//   publishes loyalty.points_changed {customer_id, order_id, kind, points, balance}
//   GET /loyalty/points (token)     → {customer_id, balance, entries: [...]} (newest 20)
//
// After commit: a failure here never fails the payment, and a delivery is
// retried until it succeeds (at least once, in order); the ledger's unique
// key makes a repeated delivery change nothing.
#include <oms/plugin.hpp>

#include <cstdint>
#include <string>

namespace {

namespace s = oms::schema;

constexpr int64_t kMinorUnitsPerPoint = 100;

oms::json points_changed_schema() {
    return s::object({{"customer_id", s::uuid()},
                      {"order_id", s::uuid()},
                      {"kind", s::one_of({"earned", "reversed"})},
                      {"points", {{"type", "integer"}, {"description", "Added (earned) or taken back (reversed, negative)"}}},
                      {"balance", {{"type", "integer"}, {"description", "The customer's balance afterwards"}}}},
                     {"customer_id", "order_id", "kind", "points", "balance"});
}

int64_t balance_of(oms::Tx& tx, const std::string& customer_id) {
    return tx.query("SELECT coalesce(sum(points), 0)::bigint AS balance FROM loyalty_ledger WHERE customer_id = $1::uuid",
                    customer_id)
        .at(0)
        .get<int64_t>("balance");
}

// Records one ledger row and announces it, in one transaction of our own.
void record(const std::string& customer_id, const std::string& order_id, const std::string& kind, int64_t points) {
    auto tx = oms::Tx::begin();
    uint64_t inserted = tx.exec("INSERT INTO loyalty_ledger (customer_id, order_id, kind, points) "
                                "VALUES ($1::uuid, $2::uuid, $3, $4) ON CONFLICT (order_id, kind) DO NOTHING",
                                customer_id, order_id, kind, points);
    if (inserted == 1)
        tx.publish("loyalty.points_changed", {{"customer_id", customer_id},
                                              {"order_id", order_id},
                                              {"kind", kind},
                                              {"points", points},
                                              {"balance", balance_of(tx, customer_id)}});
    tx.commit();
}

void on_paid(std::string_view, const oms::json& order) {
    std::string customer_id = order.at("customer_id").get<std::string>();
    // Staff buying for themselves earn nothing. The account is the users
    // plugin's: asked through its service, never read from its table.
    auto tx = oms::Tx::begin();
    oms::json customer = tx.call("users.get", {{"user_id", customer_id}});
    tx.commit();
    if (customer.value("role", "") == "admin") return;
    int64_t points = order.at("total_amount").get<int64_t>() / kMinorUnitsPerPoint;  // minor units, by contract
    if (points > 0) record(customer_id, order.at("order_id").get<std::string>(), "earned", points);
}

void on_refunded(std::string_view, const oms::json& order) {
    std::string order_id = order.at("order_id").get<std::string>();
    auto tx = oms::Tx::begin();
    auto earned = tx.query("SELECT points FROM loyalty_ledger WHERE order_id = $1::uuid AND kind = 'earned'", order_id)
                      .first();
    tx.commit();
    if (earned) record(order.at("customer_id").get<std::string>(), order_id, "reversed", -earned->get<int64_t>("points"));
}

oms::Response my_points(oms::Request& req) {
    auto caller = req.require_caller();
    auto& tx = req.tx();
    oms::json entries = oms::json::array();
    for (oms::Row row : tx.query("SELECT order_id, kind, points, created_at FROM loyalty_ledger "
                                 "WHERE customer_id = $1::uuid ORDER BY id DESC LIMIT 20",
                                 caller.user_id))
        entries.push_back({{"order_id", row.get<std::string>("order_id")},
                           {"kind", row.get<std::string>("kind")},
                           {"points", row.get<int64_t>("points")},
                           {"at", row.time("created_at")}});
    return oms::Response::json(
        {{"customer_id", caller.user_id}, {"balance", balance_of(tx, caller.user_id)}, {"entries", std::move(entries)}});
}

void setup(oms::Plugin& p) {
    p.subscribe_after_commit("order.paid", on_paid);
    p.subscribe_after_commit("order.refunded", on_refunded);
    p.calls("users.get");
    p.event("loyalty.points_changed", "A customer earned points for a paid order, or lost them to its refund",
            points_changed_schema());
    p.route("GET", "/loyalty/points", my_points)
        .auth()
        .read_only()
        .summary("The caller's loyalty points and their latest entries")
        .response_schema(200, s::object({{"customer_id", s::uuid()},
                                         {"balance", s::integer()},
                                         {"entries", s::array(s::object({{"order_id", s::uuid()},
                                                                          {"kind", s::one_of({"earned", "reversed"})},
                                                                          {"points", s::integer()},
                                                                          {"at", s::date_time()}}))}}));
}

}  // namespace

OMS_PLUGIN("loyalty", "1.0.0", "Loyalty points for paid orders, on the stock plugins' public contracts", setup)
