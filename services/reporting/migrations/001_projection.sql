-- Read model of complaints, built only from the workflow service's event feed.
CREATE TABLE reporting.complaints (
    complaint_id  text PRIMARY KEY,
    channel       text,
    tier          integer,
    status        text        NOT NULL,
    received_at   timestamptz,
    closed_at     timestamptz,
    last_position bigint      NOT NULL
);
CREATE INDEX complaints_by_status ON reporting.complaints (status);

-- How far each projection has read; written in the same transaction as the rows above.
CREATE TABLE reporting.checkpoints (
    projection text PRIMARY KEY,
    position   bigint NOT NULL
);
