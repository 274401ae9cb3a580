-- pgbench: the statement of a customer's GET /orders (first page, limit 20:
-- the host asks for 21 rows to know whether there is a next page), as the host
-- runs it: a read-only route (no BEGIN/COMMIT), the caller's role from the
-- host's cache, plugins/orders list_sql (each order's JSON with its items,
-- built by PostgreSQL).
\set u random(1, 1000)
SELECT id, oms_time_json(created_at) AS cursor_time, json_build_object('id', o.id, 'customer_id', o.customer_id, 'status', o.status, 'currency', o.currency, 'total_amount', oms_money_json(o.total_amount, o.currency), 'reservation_expires_at', oms_time_json(o.reservation_expires_at), 'created_at', oms_time_json(o.created_at), 'updated_at', oms_time_json(o.updated_at), 'items', (SELECT coalesce(json_agg(json_build_object(    'line', i.line, 'product_id', i.product_id, 'sku', i.sku, 'name', i.name, 'quantity', i.quantity,     'unit_price', oms_money_json(i.unit_price, o.currency),     'line_total', oms_money_json(i.line_total, o.currency)) ORDER BY i.line), '[]')   FROM order_items i WHERE i.order_id = o.id))::text AS body FROM orders o WHERE customer_id = md5('bench-user-' || :u)::uuid ORDER BY created_at DESC, id DESC LIMIT 21;
