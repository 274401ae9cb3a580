-- Tasks that must run in the order they were stored (the deliveries to one
-- after-commit subscriber): a task with an ordering key is claimed only when
-- no earlier task of that key is still pending. `seq` is the storing order.
ALTER TABLE oms_tasks ADD COLUMN seq bigserial;
ALTER TABLE oms_tasks ADD COLUMN ordering_key text;
CREATE INDEX oms_tasks_ordered ON oms_tasks (ordering_key, seq) WHERE state = 'pending' AND ordering_key IS NOT NULL;
