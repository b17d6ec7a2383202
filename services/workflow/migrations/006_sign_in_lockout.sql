-- Guessing passwords: after repeated failures an account refuses sign-in for a while.
ALTER TABLE workflow.staff_credentials
    ADD COLUMN failed_attempts integer     NOT NULL DEFAULT 0,
    ADD COLUMN locked_until    timestamptz;
