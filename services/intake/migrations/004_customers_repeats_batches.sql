-- Who complained (hashed phone / e-mail / account keys: no contact data in an index), whether a
-- submission repeats an open complaint of the same customer, and its classification's cause.
ALTER TABLE intake.submissions ADD COLUMN customer_keys text[] NOT NULL DEFAULT '{}';
ALTER TABLE intake.submissions ADD COLUMN repeat_of text REFERENCES intake.submissions (complaint_id);
ALTER TABLE intake.submissions ADD COLUMN cause text;
CREATE INDEX submissions_by_customer ON intake.submissions USING gin (customer_keys);
CREATE INDEX submissions_by_cause ON intake.submissions (cause, received_at) WHERE cause IS NOT NULL;
CREATE INDEX submissions_by_time ON intake.submissions (received_at);

-- Batch incidents: many customers, one cause, within a window (domain §3). Members are linked
-- to the incident in their workflows, and managers warned, by a background pass that retries.
CREATE TABLE intake.batch_incidents (
    batch_id     text        PRIMARY KEY,
    cause        text        NOT NULL,
    opened_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    warned_at    timestamptz
);
CREATE INDEX batch_incidents_by_cause ON intake.batch_incidents (cause, last_seen_at);
CREATE TABLE intake.batch_members (
    batch_id     text NOT NULL REFERENCES intake.batch_incidents,
    complaint_id text NOT NULL REFERENCES intake.submissions,
    linked_at    timestamptz,
    PRIMARY KEY (batch_id, complaint_id)
);
CREATE INDEX batch_members_unlinked ON intake.batch_members (batch_id) WHERE linked_at IS NULL;
