-- Refunds are asked for in the transaction that decides on them and made at
-- the gateway afterwards, by the payments.refund task (the host's outbox): a
-- refund is 'requested' (no gateway id yet) until Razorpay has answered.
-- A refusal by Razorpay (a 4xx) makes it 'failed' with Razorpay's words.
ALTER TABLE payment_refunds DROP CONSTRAINT payment_refunds_status_check;
ALTER TABLE payment_refunds ADD CONSTRAINT payment_refunds_status_check
    CHECK (status IN ('requested', 'pending', 'processed', 'failed'));
ALTER TABLE payment_refunds ADD COLUMN failure_reason text;
