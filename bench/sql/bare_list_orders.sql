-- pgbench: the one statement of bench/bare_get's GET /orders (the read
-- ceiling): a customer's first page, 20 orders and one more to know whether a
-- next page exists, each with its items. Ids by md5 as in seed.sql. Keep in
-- step with kListOrders in bare_get.cpp.
\set u random(1, 1000)
SELECT o.id, o.customer_id, o.status, o.currency, o.total_amount, o.reservation_expires_at, o.created_at, o.updated_at, (SELECT coalesce(json_agg(json_build_object('line', i.line, 'product_id', i.product_id, 'sku', i.sku, 'name', i.name, 'quantity', i.quantity, 'unit_price', i.unit_price, 'line_total', i.line_total) ORDER BY i.line), '[]') FROM order_items i WHERE i.order_id = o.id) AS items FROM orders o WHERE o.customer_id = md5('bench-user-' || :u)::uuid ORDER BY o.created_at DESC, o.id DESC LIMIT 21;
