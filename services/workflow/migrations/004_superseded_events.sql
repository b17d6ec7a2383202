-- Events a workflow task stored before its worker died, when the task that replaced it decided
-- otherwise: out of the stream (the workflow's history is the truth), kept here for the audit.
CREATE TABLE workflow.superseded_events (
    position      bigint      PRIMARY KEY,     -- where it stood in the feed
    event_id      uuid        NOT NULL,
    stream_id     text        NOT NULL,
    version       integer     NOT NULL,
    type          text        NOT NULL,
    data          jsonb       NOT NULL,
    occurred_at   timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL,
    superseded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX superseded_events_by_stream ON workflow.superseded_events (stream_id, version);
