-- Where to try next when a channel fails for good, the language it was written in, and every
-- attempt with the provider's answer (what staff see on the complaint and notify's API show).
-- sent: a provider took it (an SMTP relay's 250, a gateway's 2xx); delivered: confirmed where
-- the recipient reads it (our own mailbox, a gateway's receipt); failed: the dead letters.
ALTER TABLE notify.notifications
    ADD COLUMN fallbacks jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN language text,
    ADD COLUMN sent_at timestamptz,
    DROP CONSTRAINT notifications_status_check,
    ADD CONSTRAINT notifications_status_check CHECK (status IN ('pending', 'sent', 'delivered', 'failed'));

CREATE TABLE notify.delivery_attempts (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id   uuid        NOT NULL REFERENCES notify.notifications (id),
    attempt           integer     NOT NULL,
    channel           text        NOT NULL,
    recipient_address text        NOT NULL,
    outcome           text        NOT NULL CHECK (outcome IN ('sent', 'delivered', 'retry', 'failed')),
    answer            text,
    at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX delivery_attempts_by_notification ON notify.delivery_attempts (notification_id, id);
