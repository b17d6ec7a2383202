-- Every accepted submission, stored before intake answers 202: nothing accepted is lost,
-- even when Temporal is unreachable (the starter starts the workflow later).
CREATE TABLE intake.submissions (
    complaint_id        text        PRIMARY KEY,
    idempotency_key     text        NOT NULL UNIQUE,
    request_hash        text        NOT NULL,
    tracking_token      text        NOT NULL UNIQUE,
    channel             text        NOT NULL,
    workflow_input      jsonb       NOT NULL,
    received_at         timestamptz NOT NULL,
    workflow_started_at timestamptz
);
CREATE INDEX submissions_not_started ON intake.submissions (received_at) WHERE workflow_started_at IS NULL;
