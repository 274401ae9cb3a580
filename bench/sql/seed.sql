-- The bench's data, written straight into the plugins' tables of a migrated
-- database (the HTTP paths that make them are not what is measured here).
-- Ids are md5-derived so that wrk's scripts and pgbench name the same rows:
--   users     md5('bench-user-N')     N = 1..1000     (customers; no one logs in)
--   products  md5('bench-product-N')  N = 1..10000    (stock 1e9: never short)
--   orders    md5('bench-order-N')    N = 1..10000    (paid, 1-3 lines, 2 history rows,
--                                                      customer 1 + N % 1000: ten each)
--   payments  md5('bench-payment-N')  one captured (simulated) payment per order, with its
--                                     attempt, and the order's committed reservations
INSERT INTO users (id, name, email, password_hash)
SELECT md5('bench-user-' || g)::uuid, 'Bench user ' || g, 'bench-' || g || '@bench.example', '!'
FROM generate_series(1, 1000) g;

INSERT INTO inventory_products (product_id, sku, name, price, on_hand)
SELECT md5('bench-product-' || g)::uuid, 'BENCH-' || lpad(g::text, 5, '0'), 'Bench product ' || g,
       100 + (g * 37) % 99900, 1000000000
FROM generate_series(1, 10000) g;
INSERT INTO inventory_movements (product_id, delta_on_hand, reason, actor)
SELECT product_id, on_hand, 'created', 'bench' FROM inventory_products WHERE sku LIKE 'BENCH-%';

INSERT INTO orders (id, customer_id, status, currency, total_amount, created_at, updated_at)
SELECT md5('bench-order-' || g)::uuid, md5('bench-user-' || (1 + g % 1000))::uuid, 'paid', 'INR', 0,
       now() - make_interval(secs => 20000 - g), now() - make_interval(secs => 20000 - g)
FROM generate_series(1, 10000) g;
INSERT INTO order_items (order_id, line, product_id, sku, name, quantity, unit_price, line_total)
SELECT md5('bench-order-' || g)::uuid, l, p.product_id, p.sku, p.name, 1 + (g + l) % 3, p.price,
       (1 + (g + l) % 3) * p.price
FROM generate_series(1, 10000) g
CROSS JOIN LATERAL generate_series(1, 1 + g % 3) l
JOIN inventory_products p ON p.product_id = md5('bench-product-' || (1 + (g * 7 + l * 13) % 10000))::uuid;
UPDATE orders o SET total_amount = t.total
FROM (SELECT order_id, sum(line_total) AS total FROM order_items GROUP BY order_id) t WHERE o.id = t.order_id;
INSERT INTO order_status_history (order_id, from_status, to_status, actor, reason, created_at)
SELECT o.id, s.from_status, s.to_status, s.actor, s.reason, o.created_at
FROM orders o
CROSS JOIN (VALUES (NULL, 'pending', 'customer', 'created'), ('pending', 'paid', 'payments', 'payment captured'))
     AS s(from_status, to_status, actor, reason);

INSERT INTO inventory_reservations (order_id, product_id, quantity, status, expires_at, created_at, updated_at)
SELECT i.order_id, i.product_id, i.quantity, 'committed', o.created_at + interval '15 minutes', o.created_at,
       o.created_at
FROM order_items i JOIN orders o ON o.id = i.order_id;

INSERT INTO payments (id, order_id, customer_id, status, amount, currency, gateway_order_id, simulated,
                      amount_captured, created_at, updated_at)
SELECT md5('bench-payment-' || g)::uuid, o.id, o.customer_id, 'captured', o.total_amount, o.currency,
       'order_S' || lpad(g::text, 13, '0'), true, o.total_amount, o.created_at, o.created_at
FROM generate_series(1, 10000) g JOIN orders o ON o.id = md5('bench-order-' || g)::uuid;
INSERT INTO payment_attempts (gateway_payment_id, payment_id, status, amount, currency, method, accepted, outcome,
                              captured_at, created_at, updated_at)
SELECT 'pay_S' || lpad(g::text, 13, '0'), p.id, 'captured', p.amount, p.currency, 'upi', true, 'paid the order',
       p.created_at, p.created_at, p.created_at
FROM generate_series(1, 10000) g JOIN payments p ON p.id = md5('bench-payment-' || g)::uuid;

ANALYZE;
