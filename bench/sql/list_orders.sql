-- pgbench: the statement of a customer's GET /orders (first page, limit 20:
-- the host asks for 21 rows to know whether there is a next page), as the host
-- runs it: a read-only route (no BEGIN/COMMIT), the caller's role from the
-- host's cache, plugins/orders list_sql (the page with each order's items aggregated).
\set u random(1, 1000)
SELECT id, customer_id, status, currency, total_amount, reservation_expires_at, created_at, updated_at, (SELECT coalesce(json_agg(json_build_object('line', i.line, 'product_id', i.product_id, 'sku', i.sku, 'name', i.name, 'quantity', i.quantity, 'unit_price', i.unit_price, 'line_total', i.line_total) ORDER BY i.line), '[]') FROM order_items i WHERE i.order_id = o.id) AS items FROM orders o WHERE customer_id = md5('bench-user-' || :u)::uuid ORDER BY created_at DESC, id DESC LIMIT 21;
