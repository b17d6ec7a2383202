-- The outbox: a notification is stored (rendered) before it is acknowledged, then delivered.
CREATE TABLE notify.notifications (
    id                uuid        PRIMARY KEY,
    idempotency_key   text        NOT NULL UNIQUE,   -- the same key twice delivers once
    request_hash      text        NOT NULL,
    complaint_id      text,
    template          text        NOT NULL,
    channel           text        NOT NULL,
    recipient_name    text        NOT NULL,
    recipient_address text        NOT NULL,
    subject           text        NOT NULL,
    body              text        NOT NULL,
    status            text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts          integer     NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    last_error        text,
    provider_ref      text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz
);
CREATE INDEX notifications_due ON notify.notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_by_complaint ON notify.notifications (complaint_id, created_at);
