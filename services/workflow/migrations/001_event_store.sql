-- The append-only event store: the audit trail of every complaint and the only source of read models.
CREATE TABLE workflow.events (
    position    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- global order of the feed
    event_id    uuid        NOT NULL UNIQUE,                       -- a retried append is recognised
    stream_id   text        NOT NULL,                              -- the complaint id
    version     integer     NOT NULL CHECK (version >= 1),         -- 1, 2, 3 … within the stream
    type        text        NOT NULL,
    data        jsonb       NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, version)                                    -- optimistic concurrency
);
