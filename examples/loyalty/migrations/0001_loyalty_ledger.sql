-- One row per order per kind: 'earned' when it was paid, 'reversed' when it
-- was refunded. The unique key makes a delivery that comes twice (they are
-- at least once) change nothing the second time.
CREATE TABLE loyalty_ledger (
    id bigserial PRIMARY KEY,
    customer_id uuid NOT NULL,
    order_id uuid NOT NULL,
    kind text NOT NULL CHECK (kind IN ('earned', 'reversed')),
    points bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (order_id, kind)
);
CREATE INDEX loyalty_ledger_customer ON loyalty_ledger (customer_id, id);
