-- pgbench: the statements of GET /orders/:id (a customer's own order), as the
-- host runs them: a read-only route (no BEGIN/COMMIT), the caller's role from
-- the host's cache (no statement), plugins/orders load_order queued and sent
-- in one pipeline with plugins/payments payments_json_of_order (the order's
-- payments with their attempts and refunds). Ids by md5 as in seed.sql.
\set n random(1, 10000)
\startpipeline
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
SELECT p.id, p.order_id, p.customer_id, p.status, p.amount, p.currency, p.gateway, p.gateway_order_id, p.simulated, p.amount_captured, p.amount_refunded, p.created_at, p.updated_at, (SELECT coalesce(json_agg(json_build_object(    'gateway_payment_id', a.gateway_payment_id, 'status', a.status, 'amount', a.amount,     'method', a.method, 'accepted', a.accepted, 'outcome', a.outcome, 'error_code', a.error_code,     'error_description', a.error_description, 'error_reason', a.error_reason,     'created_at', a.created_at, 'captured_at', a.captured_at)   ORDER BY a.created_at, a.gateway_payment_id), '[]')  FROM payment_attempts a WHERE a.payment_id = p.id) AS attempts, (SELECT coalesce(json_agg(json_build_object('id', f.id, 'payment_id', f.payment_id, 'gateway_payment_id', f.gateway_payment_id, 'gateway_refund_id', f.gateway_refund_id, 'amount', f.amount, 'currency', f.currency, 'status', f.status, 'reason', f.reason, 'automatic', f.automatic, 'created_at', f.created_at, 'processed_at', f.processed_at) ORDER BY f.created_at, f.id), '[]') FROM payment_refunds f WHERE f.payment_id = p.id) AS refunds FROM payments p WHERE p.order_id = md5('bench-order-' || :n)::uuid ORDER BY p.created_at, p.id;
\endpipeline
