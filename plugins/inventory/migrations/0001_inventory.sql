-- Products and their stock. Prices are integer minor units of `currency`.
-- `reserved` is the part of on_hand held by active reservations; the CHECKs
-- make overselling (or releasing twice) fail loudly instead of drifting.
-- SKUs sort bytewise (COLLATE "C"): the list's keyset order is predictable.
CREATE TABLE inventory_products (
    product_id  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    sku         text COLLATE "C" NOT NULL UNIQUE CHECK (length(sku) BETWEEN 1 AND 64),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    price       bigint NOT NULL CHECK (price >= 0),
    currency    char(3) NOT NULL DEFAULT 'INR',
    on_hand     integer NOT NULL CHECK (on_hand >= 0),
    reserved    integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (reserved <= on_hand)
);

-- Stock held for an order: active until committed (paid), released
-- (cancelled) or expired (unpaid past expires_at); committed stock can be
-- restocked (refund). One row per order and product.
CREATE TABLE inventory_reservations (
    id          bigserial PRIMARY KEY,
    order_id    uuid NOT NULL,
    product_id  uuid NOT NULL REFERENCES inventory_products,
    quantity    integer NOT NULL CHECK (quantity > 0),
    status      text NOT NULL CHECK (status IN ('active', 'committed', 'released', 'expired', 'restocked')),
    reason      text,  -- why it was released, when the caller said
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (order_id, product_id)
);
-- The expiry job's scan: only active rows, oldest first.
CREATE INDEX inventory_reservations_expiring ON inventory_reservations (expires_at) WHERE status = 'active';
-- Lookups by order use the UNIQUE (order_id, product_id) index.

-- Every change of on_hand, so stock can be audited: for each product the sum
-- of delta_on_hand equals its on_hand.
CREATE TABLE inventory_movements (
    id             bigserial PRIMARY KEY,
    product_id     uuid NOT NULL REFERENCES inventory_products,
    delta_on_hand  integer NOT NULL,
    reason         text NOT NULL CHECK (reason IN ('created', 'adjustment', 'import', 'sale', 'restock')),
    order_id       uuid,
    actor          text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inventory_movements_product ON inventory_movements (product_id, id);
