-- The workflow's outbox: every message a complaint sends is stored in the same transaction as
-- the events that caused it (one local activity), so a crash can neither send a message whose
-- event was lost nor lose a message whose event was stored. The relay hands them to notify.
CREATE TABLE workflow.outbox (
    position         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- hand-over order
    idempotency_key  text        NOT NULL UNIQUE,  -- decided by the workflow: a retried append stores once
    complaint_id     text        NOT NULL,
    request          jsonb       NOT NULL,         -- the notification request, as first stored
    trace_context    jsonb       NOT NULL DEFAULT '{}',  -- W3C headers of the span that stored it
    status           text        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'handed_over', 'rejected')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    notification_id  uuid,                         -- notify's id, once handed over
    created_at       timestamptz NOT NULL DEFAULT now(),
    handed_over_at   timestamptz
);
CREATE INDEX outbox_due ON workflow.outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_by_complaint ON workflow.outbox (complaint_id, position);
