-- pgbench: the statements of GET /orders/:id (a customer's own order), as the
-- host runs them (plugins/users resolve_caller, plugins/orders load_order,
-- plugins/payments payments_for_order: the order's payments, then each one's
-- row, attempts and refunds). Ids are computed by md5 as in seed.sql.
-- BEGIN travels with the first statement in one pipeline, as the host sends it.
\set n random(1, 10000)
\startpipeline
BEGIN;
SELECT role FROM users WHERE id = md5('bench-user-' || (1 + :n % 1000))::uuid;
\endpipeline
SELECT id, customer_id, status, currency, total_amount, reservation_expires_at, created_at, updated_at,
          (SELECT coalesce(json_agg(json_build_object(
                     'line', i.line, 'product_id', i.product_id, 'sku', i.sku, 'name', i.name,
                     'quantity', i.quantity, 'unit_price', i.unit_price, 'line_total', i.line_total)
                   ORDER BY i.line), '[]')
             FROM order_items i WHERE i.order_id = o.id) AS items,
          (SELECT coalesce(json_agg(json_build_object(
                     'from', h.from_status, 'to', h.to_status, 'actor', h.actor, 'reason', h.reason,
                     'at', h.created_at)
                   ORDER BY h.id), '[]')
             FROM order_status_history h WHERE h.order_id = o.id) AS history
        FROM orders o WHERE o.id = md5('bench-order-' || :n)::uuid;
SELECT id, order_id, customer_id, status, amount, currency, gateway_order_id, simulated, amount_captured, amount_refunded, amount_refund_processed FROM payments WHERE order_id = md5('bench-order-' || :n)::uuid ORDER BY created_at, id;
SELECT id, order_id, customer_id, status, amount, currency, gateway, gateway_order_id, simulated, amount_captured, amount_refunded, created_at, updated_at FROM payments WHERE id = md5('bench-payment-' || :n)::uuid;
SELECT gateway_payment_id, status, amount, method, accepted, outcome, error_code, error_description, error_reason, created_at, captured_at FROM payment_attempts WHERE payment_id = md5('bench-payment-' || :n)::uuid ORDER BY created_at, gateway_payment_id;
SELECT id, payment_id, gateway_payment_id, gateway_refund_id, amount, currency, status, reason, automatic, created_at, processed_at FROM payment_refunds WHERE payment_id = md5('bench-payment-' || :n)::uuid ORDER BY created_at, id;
COMMIT;
