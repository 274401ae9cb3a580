// inventory: products and their stock, reserved for orders through services.
//
//   POST  /inventory               (admin) {sku, name, price, currency?, on_hand} → 201 the product
//   GET   /inventory               ?sku= &limit= &cursor=                        → {data, next_cursor}
//   GET   /inventory/:product_id                                                 → the product
//   PATCH /inventory/:product_id   (admin) {name?, price?, on_hand?}             → the product
//   services inventory.reserve / commit / release / restock   (reservations.hpp)
//   job expire_reservations every OMS_RESERVATION_SWEEP_MS     (expiry.cpp)
//   oms-host inventory import FILE                            (csv_import.hpp)
#include <oms/pagination.hpp>
#include <oms/plugin.hpp>

#include <chrono>
#include <string>

#include "csv_import.hpp"
#include "product.hpp"
#include "reservations.hpp"
#include "schemas.hpp"

namespace {

using inventory::kProductColumns;

std::string select_products(const char* where_and_order) {
    return std::string("SELECT ") + kProductColumns + " FROM inventory_products " + where_and_order;
}

oms::Response create_product(oms::Request& req) {
    auto caller = req.require_caller();
    auto p = inventory::parse_new_product(req.json_body());
    auto& tx = req.tx();
    // ON CONFLICT keeps the transaction usable and the log free of a unique-violation error.
    auto row = tx.query(std::string("INSERT INTO inventory_products (sku, name, price, currency, on_hand)"
                                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sku) DO NOTHING RETURNING ") +
                            kProductColumns,
                        p.sku, p.name, p.price, p.currency, p.on_hand)
                   .first();
    if (!row) throw oms::conflict("sku_taken", "A product with SKU " + p.sku + " already exists.");
    std::string id = row->get<std::string>("product_id");
    if (p.on_hand != 0) inventory::record_movement(tx, id, p.on_hand, "created", std::nullopt, caller.user_id);
    return oms::Response::json(inventory::product_json(*row), 201).header("Location", "/inventory/" + id);
}

// Keyset pagination by SKU (unique, bytewise order): page N is one index range.
oms::Response list_products(oms::Request& req) {
    auto page = oms::pagination::from_request(req);
    std::string after;  // every SKU sorts after "" (SKUs are never empty)
    if (page.after) {
        auto it = page.after->find("sku");
        if (it == page.after->end() || !it->is_string())
            throw oms::Error(400, "invalid_cursor", "The cursor is not one this API issued.");
        after = it->get<std::string>();
    }
    auto& tx = req.tx();
    auto sku = req.query("sku");
    auto rows = sku ? tx.query(select_products("WHERE sku = $1 AND sku > $2 ORDER BY sku LIMIT $3"), *sku, after,
                               page.limit + 1)
                    : tx.query(select_products("WHERE sku > $1 ORDER BY sku LIMIT $2"), after, page.limit + 1);
    oms::json data = oms::json::array();
    for (const auto& row : rows) data.push_back(inventory::product_json(row));
    return oms::Response::json(oms::pagination::page_body(std::move(data), page.limit, [](const oms::json& p) {
        return oms::json{{"sku", p["sku"]}};
    }));
}

// The product id of the path, or 404 (a malformed id names no product).
std::string product_id_param(const oms::Request& req) {
    std::string id = req.param("product_id");
    if (!oms::is_uuid(id)) throw oms::not_found("No product with this id.");
    return id;
}

oms::Response get_product(oms::Request& req) {
    std::string id = product_id_param(req);
    auto row = req.tx().query(select_products("WHERE product_id = $1::uuid"), id).first();
    if (!row) throw oms::not_found("No product with this id.");
    return oms::Response::json(inventory::product_json(*row));
}

oms::Response update_product(oms::Request& req) {
    auto caller = req.require_caller();
    std::string id = product_id_param(req);
    const auto& body = req.json_body();
    if (!body.is_object()) throw oms::bad_request("invalid_body", "The body must be a JSON object.");
    auto& tx = req.tx();
    // Locked: reservations cannot grow between the check below and the update.
    auto current = tx.query(select_products("WHERE product_id = $1::uuid FOR UPDATE"), id).first();
    if (!current) throw oms::not_found("No product with this id.");
    auto change = inventory::parse_product_change(body, current->get<std::string>("currency"));
    if (change.empty()) return oms::Response::json(inventory::product_json(*current));

    auto reserved = current->get<int64_t>("reserved");
    if (change.on_hand && *change.on_hand < reserved)
        throw oms::Error(409, "below_reserved",
                         "on_hand cannot go below the " + std::to_string(reserved) + " units reserved for orders.",
                         {{"on_hand", "must be at least " + std::to_string(reserved)}});
    auto row = tx.query(std::string("UPDATE inventory_products SET name = coalesce($2, name),"
                                    " price = coalesce($3::bigint, price), on_hand = coalesce($4::integer, on_hand),"
                                    " updated_at = now() WHERE product_id = $1::uuid RETURNING ") +
                            kProductColumns,
                        id, change.name, change.price, change.on_hand)
                   .at(0);
    int64_t delta = row.get<int64_t>("on_hand") - current->get<int64_t>("on_hand");
    if (delta != 0) inventory::record_movement(tx, id, delta, "adjustment", std::nullopt, caller.user_id);
    return oms::Response::json(inventory::product_json(row));
}

void setup(oms::Plugin& p) {
    inventory::set_default_ttl(oms::config_int("OMS_RESERVATION_TTL", 900, 1, inventory::kMaxTtlSeconds));
    auto sweep_ms = oms::config_int("OMS_RESERVATION_SWEEP_MS", 1000, 50, 60000);

    namespace schemas = inventory::schemas;
    auto product_id = oms::schema::uuid();
    p.route("POST", "/inventory", create_product)
        .role("admin")
        .summary("Create a product with its stock")
        .request_schema(schemas::new_product())
        .response_schema(201, schemas::product())
        .response_header(201, "Location", "The product's URL")
        .error(409, "sku_taken: a product with this SKU exists.");
    oms::pagination::describe(p.route("GET", "/inventory", list_products), schemas::product())
        .summary("List products by SKU (filter ?sku=, paginated)")
        .query_param("sku", schemas::sku(), "Only the product with this SKU");
    p.route("GET", "/inventory/:product_id", get_product)
        .summary("A product and its stock")
        .path_param("product_id", product_id)
        .response_schema(200, schemas::product());
    p.route("PATCH", "/inventory/:product_id", update_product)
        .role("admin")
        .summary("Change a product's name, price or on_hand (never below what is reserved)")
        .path_param("product_id", product_id)
        .request_schema(schemas::product_change())
        .response_schema(200, schemas::product())
        .error(409, "below_reserved: on_hand would go below the units reserved for orders.");

    p.service("inventory.reserve", inventory::reserve,
              "Holds stock for an order's items and prices them; 400 unknown_product, 409 insufficient_stock, "
              "409 reservation_exists")
        .accepts(schemas::reserve_args())
        .returns(schemas::reserve_result());
    p.service("inventory.commit", inventory::commit,
              "The order's active reservations are sold; 409 reservation_not_active")
        .accepts(schemas::order_only())
        .returns(schemas::count_of("committed"));
    p.service("inventory.release", inventory::release,
              "The order's active reservations return to stock (0 when none)")
        .accepts(schemas::release_args())
        .returns(schemas::count_of("released"));
    p.service("inventory.restock", inventory::restock, "The order's sold stock returns to on_hand (0 when none)")
        .accepts(schemas::order_only())
        .returns(schemas::count_of("restocked"));
    p.event("inventory.reservation_expired",
            "An order's reservations outlived their time and returned to stock (the expiry job)",
            schemas::order_only());

    p.job("expire_reservations", std::chrono::milliseconds(sweep_ms), inventory::expire_reservations);

    p.command("import", "Create or update products from a CSV file (header sku,name,price,currency,on_hand); all or nothing",
              inventory::import_command)
        .positional("file", "the CSV file");
}

}  // namespace

OMS_PLUGIN("inventory", "1.0.0", "Products, stock, reservations for orders and CSV import", setup)
