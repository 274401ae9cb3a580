-- Payments through Razorpay. Amounts are integer minor units (paise) in the
-- payment's currency; JSON shows them in major units.
--
-- One row of `payments` per Razorpay order (gateway_order_id). The customer
-- may make several attempts on it (a failed UPI payment, then a card): each
-- Razorpay payment (pay_...) is a row of payment_attempts, and money is
-- captured and refunded per attempt. The payment's amounts and status are
-- kept in step with its attempts and refunds by the plugin (one UPDATE that
-- re-aggregates them), and the CHECKs below hold whatever the plugin does.
CREATE TABLE payments (
    id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id                 uuid NOT NULL,
    customer_id              uuid NOT NULL,
    status                   text NOT NULL DEFAULT 'created'
                             CHECK (status IN ('created', 'authorized', 'failed', 'captured', 'refunded')),
    amount                   bigint NOT NULL CHECK (amount > 0),  -- the order's total when created
    currency                 char(3) NOT NULL,
    gateway                  text NOT NULL DEFAULT 'razorpay',
    gateway_order_id         text NOT NULL UNIQUE,
    simulated                boolean NOT NULL DEFAULT false,
    amount_captured          bigint NOT NULL DEFAULT 0 CHECK (amount_captured >= 0),
    amount_refunded          bigint NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0),  -- pending + processed
    amount_refund_processed  bigint NOT NULL DEFAULT 0 CHECK (amount_refund_processed >= 0),
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CHECK (amount_refunded <= amount_captured),
    CHECK (amount_refund_processed <= amount_refunded),
    CHECK ((status = 'refunded') = (amount_captured > 0 AND amount_refund_processed = amount_captured)),
    CHECK (status NOT IN ('captured', 'refunded') OR amount_captured > 0)
);
-- At most one open payment (not yet captured) per order: POST /payments
-- returns it again instead of making a second Razorpay order.
CREATE UNIQUE INDEX payments_one_open_per_order ON payments (order_id)
    WHERE status IN ('created', 'authorized', 'failed');
-- payments.for_order / refund_order, oldest first.
CREATE INDEX payments_by_order ON payments (order_id, created_at, id);

CREATE TABLE payment_attempts (
    gateway_payment_id  text PRIMARY KEY,  -- pay_...
    payment_id          uuid NOT NULL REFERENCES payments (id),
    status              text NOT NULL CHECK (status IN ('created', 'authorized', 'failed', 'captured')),
    amount              bigint NOT NULL CHECK (amount > 0),
    currency            char(3) NOT NULL,
    method              text,
    error_code          text,
    error_description   text,
    error_reason        text,
    -- This capture paid the order. A capture that did not (the order had
    -- expired, was cancelled or already paid, or the amount differed) is
    -- refunded automatically; `outcome` says why.
    accepted            boolean NOT NULL DEFAULT false,
    outcome             text,
    amount_refunded     bigint NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0),  -- pending + processed
    captured_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (amount_refunded <= amount),
    CHECK (amount_refunded = 0 OR status = 'captured'),
    CHECK (NOT accepted OR status = 'captured'),
    CHECK ((status = 'captured') = (captured_at IS NOT NULL))
);
CREATE INDEX payment_attempts_payment ON payment_attempts (payment_id, created_at);
-- A payment's money pays its order at most once.
CREATE UNIQUE INDEX payment_attempts_one_accepted ON payment_attempts (payment_id) WHERE accepted;

CREATE TABLE payment_refunds (
    id                  uuid PRIMARY KEY,
    payment_id          uuid NOT NULL REFERENCES payments (id),
    gateway_payment_id  text NOT NULL REFERENCES payment_attempts (gateway_payment_id),
    gateway_refund_id   text UNIQUE,  -- rfnd_...
    amount              bigint NOT NULL CHECK (amount > 0),
    currency            char(3) NOT NULL,
    status              text NOT NULL CHECK (status IN ('pending', 'processed', 'failed')),
    reason              text,
    -- Made by the plugin itself (a capture that could not pay its order).
    automatic           boolean NOT NULL DEFAULT false,
    -- X-Refund-Idempotency sent to Razorpay; NULL for refunds we only heard
    -- of by webhook (made on the dashboard).
    idempotency_key     text UNIQUE,
    -- When payment.refunded was published for it (processed refunds of the
    -- capture that paid the order).
    event_published_at  timestamptz,
    processed_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'processed') = (processed_at IS NOT NULL))
);
CREATE INDEX payment_refunds_payment ON payment_refunds (payment_id, created_at);
CREATE INDEX payment_refunds_attempt ON payment_refunds (gateway_payment_id);

-- Webhook deliveries by X-Razorpay-Event-Id, inserted in the transaction of
-- their effect: a retried or replayed event finds its row and changes nothing.
CREATE TABLE payment_webhook_events (
    event_id     text PRIMARY KEY,
    event        text NOT NULL,
    result       text,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_webhook_events_received ON payment_webhook_events (received_at);
