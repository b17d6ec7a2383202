-- Signed in once: the console hands its person to the reports dashboard (another service) with a
-- code good for one use within a minute, which the dashboard trades for a session of its own.
-- Only the code's SHA-256 is kept, as for tokens.
CREATE TABLE workflow.staff_handoffs (
    code_hash   text        PRIMARY KEY,
    staff_id    text        NOT NULL REFERENCES workflow.staff (staff_id),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX staff_handoffs_by_expiry ON workflow.staff_handoffs (expires_at);
