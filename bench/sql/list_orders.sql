-- pgbench: the statements of a customer's GET /orders (first page, limit 20:
-- the host asks for 21 rows to know whether there is a next page), as the host
-- runs them (resolve_caller, plugins/orders order_list.cpp). The page's ids
-- travel to the items query as one uuid[] parameter, as in the host; pgbench
-- gets them with \gset, so the page's rows are aggregated in the server.
-- BEGIN travels with the first statement in one pipeline, as the host sends it.
\set u random(1, 1000)
\startpipeline
BEGIN;
SELECT role FROM users WHERE id = md5('bench-user-' || :u)::uuid;
\endpipeline
SELECT string_agg(id::text, ',') AS ids FROM (SELECT id, customer_id, status, currency, total_amount, reservation_expires_at, created_at, updated_at FROM orders WHERE customer_id = md5('bench-user-' || :u)::uuid ORDER BY created_at DESC, id DESC LIMIT 21) page \gset
SELECT i.order_id, i.line, i.product_id, i.sku, i.name, i.quantity, i.unit_price, i.line_total, o.currency FROM order_items i JOIN orders o ON o.id = i.order_id WHERE i.order_id = ANY(('{' || :ids || '}')::uuid[]) ORDER BY i.order_id, i.line;
COMMIT;
