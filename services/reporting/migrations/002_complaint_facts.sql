-- Everything the reports need of a complaint, one row each (services/reporting/facts.py). The
-- old projection is dropped and its checkpoint reset: it is rebuilt from the feed.
DROP TABLE reporting.complaints;
CREATE TABLE reporting.complaints (
    complaint_id                     text PRIMARY KEY,
    last_position                    bigint      NOT NULL,
    channel                          text,
    tier                             integer,
    complaint_type                   text,
    urgency                          text,
    responsibility                   text,
    scope                            text,
    cause                            text,
    policy                           text,
    status                           text        NOT NULL,
    group_name                       text,
    assignee                         text,
    owner                            text,
    received_at                      timestamptz,
    acknowledged_at                  timestamptz,
    resolved_at                      timestamptz,
    feedback_at                      timestamptz,
    closed_at                        timestamptz,
    first_response_seconds           double precision,
    first_response_business_seconds  double precision,
    resolution_seconds               double precision,
    resolution_business_seconds      double precision,
    paused_seconds                   double precision NOT NULL DEFAULT 0,
    escalation_level                 integer     NOT NULL DEFAULT 0,
    breached                         boolean     NOT NULL DEFAULT false,
    satisfaction_result              integer,
    satisfaction_speed               integer,
    suggestion                       text,
    survey_expired                   boolean     NOT NULL DEFAULT false,
    follow_up_outcome                text,
    reopened                         integer     NOT NULL DEFAULT 0,
    batch_id                         text,
    targets                          jsonb       NOT NULL DEFAULT '{}',
    escalations                      jsonb       NOT NULL DEFAULT '[]',
    transfers                        jsonb       NOT NULL DEFAULT '[]',
    departments                      jsonb       NOT NULL DEFAULT '[]'
);
CREATE INDEX complaints_by_received ON reporting.complaints (received_at);
CREATE INDEX complaints_by_status ON reporting.complaints (status);
UPDATE reporting.checkpoints SET position = 0 WHERE projection = 'complaints';
