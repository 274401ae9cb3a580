-- Tables the probe plugin uses to prove each SDK mechanism end to end.
CREATE TABLE probe_items (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Written by the probe's own event subscriber, inside the publisher's transaction.
CREATE TABLE probe_events (
    id       bigserial PRIMARY KEY,
    event    text NOT NULL,
    item_id  bigint NOT NULL
);

-- Written by the periodic job.
CREATE TABLE probe_ticks (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now()
);
