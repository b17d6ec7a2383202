-- Other departments asked for their view (source 002's joint consultation): how many each was
-- asked and how long it took to answer, beside the transfers in the timeliness report's
-- collaboration between departments. No event before this migration is a consultation, so
-- nothing is rebuilt.
ALTER TABLE reporting.complaints ADD COLUMN consultations jsonb NOT NULL DEFAULT '[]';

CREATE TABLE reporting.complaint_consultations (
    complaint_id    text        NOT NULL,
    seq             integer     NOT NULL,
    received_at     timestamptz,
    tier            integer,
    group_name      text,
    answer_seconds  double precision,  -- from the question to the group's first answer; NULL: none yet
    PRIMARY KEY (complaint_id, seq)
);
CREATE INDEX complaint_consultations_by_received ON reporting.complaint_consultations (received_at);
