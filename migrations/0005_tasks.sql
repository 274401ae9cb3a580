-- Tasks: the transactional outbox (oms_task_def in <oms/abi.h>). A plugin's
-- transaction inserts a row; it exists only if that transaction commits, and
-- a serving host's task threads claim and run it afterwards.
--
-- A claim is a lease, not a held lock: the claiming statement bumps
-- `attempts` and moves `run_at` to the end of the lease, then commits, so no
-- connection or row lock is held while the handler runs (a gateway call may
-- take seconds). A host that dies mid-task leaves the row due again when the
-- lease ends. The outcome is recorded only by the run that holds the latest
-- attempt (`attempts` is the fence).
CREATE TABLE oms_tasks (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    key         text,
    payload     jsonb NOT NULL,
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
    attempts    integer NOT NULL DEFAULT 0,
    run_at      timestamptz NOT NULL DEFAULT now(),
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    CONSTRAINT oms_tasks_key UNIQUE (name, key)
);
CREATE INDEX oms_tasks_due ON oms_tasks (run_at) WHERE state = 'pending';
CREATE INDEX oms_tasks_finished ON oms_tasks (finished_at) WHERE state = 'done';
