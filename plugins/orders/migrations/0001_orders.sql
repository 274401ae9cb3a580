-- Orders. Amounts are integer minor units (paise, cents) in the order's
-- currency; JSON shows them in major units.
CREATE TABLE orders (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id             uuid NOT NULL,
    status                  text NOT NULL CHECK (status IN ('pending', 'paid', 'cancelled', 'expired',
                                                            'shipped', 'delivered', 'refunded')),
    currency                char(3) NOT NULL,
    total_amount            bigint NOT NULL CHECK (total_amount >= 0),
    -- When the stock reservation lapses; meaningful while the order is pending.
    reservation_expires_at  timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
-- Keyset pages (ORDER BY created_at DESC, id DESC) for each way GET /orders
-- is filtered: a customer's own, everyone's, by status.
CREATE INDEX orders_customer_page ON orders (customer_id, created_at DESC, id DESC);
CREATE INDEX orders_page ON orders (created_at DESC, id DESC);
CREATE INDEX orders_status_page ON orders (status, created_at DESC, id DESC);

-- The lines as ordered, with the product's sku, name and price at that time.
CREATE TABLE order_items (
    order_id    uuid NOT NULL REFERENCES orders (id),
    line        integer NOT NULL CHECK (line > 0),
    product_id  uuid NOT NULL,
    sku         text NOT NULL,
    name        text NOT NULL,
    quantity    integer NOT NULL CHECK (quantity > 0),
    unit_price  bigint NOT NULL CHECK (unit_price >= 0),
    line_total  bigint NOT NULL CHECK (line_total >= 0),
    PRIMARY KEY (order_id, line)
);

-- One row per status change (and the creation, from NULL to pending).
CREATE TABLE order_status_history (
    id           bigserial PRIMARY KEY,
    order_id     uuid NOT NULL REFERENCES orders (id),
    from_status  text,
    to_status    text NOT NULL,
    actor        text NOT NULL,  -- a user id, or 'system' / 'payments'
    reason       text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_status_history_order ON order_status_history (order_id, id);
