// POST /orders, /orders/:id/status and /orders/:id/cancel bodies: any bytes the
// host accepts as JSON go through the orders plugin's validation, which must
// answer with a value or an oms::Error (a 4xx), nothing else.
#include <oms/plugin.hpp>

#include "order_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto body = oms::json::parse(data, data + size, nullptr, false);
    if (body.is_discarded()) return 0;
    try {
        auto order = orders::parse_new_order(body);
        // What validation lets through is within the documented bounds.
        if (order.items.empty() || order.items.size() > orders::kMaxItems) __builtin_trap();
        for (const auto& i : order.items)
            if (i.quantity < 1 || i.quantity > orders::kMaxQuantity || !oms::is_uuid(i.product_id)) __builtin_trap();
    } catch (const oms::Error& e) {
        if (e.status() < 400 || e.status() >= 500) __builtin_trap();
    }
    try {
        orders::parse_status_change(body);
    } catch (const oms::Error& e) {
        if (e.status() < 400 || e.status() >= 500) __builtin_trap();
    }
    try {
        orders::parse_cancel_reason(body);
    } catch (const oms::Error& e) {
        if (e.status() < 400 || e.status() >= 500) __builtin_trap();
    }
    return 0;
}
