-- Staff and duty: who can be assigned (seeded from roster.toml; duty changes through the API).
CREATE TABLE workflow.staff (
    staff_id   text        PRIMARY KEY,
    name       text        NOT NULL,
    role       text        NOT NULL,
    groups     text[]      NOT NULL DEFAULT '{}',
    on_duty    boolean     NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One routing decision per complaint: a retried routing activity returns the same decision.
CREATE TABLE workflow.routes (
    complaint_id text        PRIMARY KEY,
    group_name   text        NOT NULL,
    decision     jsonb       NOT NULL,
    decided_at   timestamptz NOT NULL DEFAULT now()
);

-- Round robin: the member a group picked last.
CREATE TABLE workflow.routing_cursors (
    group_name  text PRIMARY KEY,
    last_member text NOT NULL
);

-- The staff inbox: one row per complaint, projected from its events in the same transaction
-- as the append (never behind the event store). Contact data is stored masked only.
CREATE TABLE workflow.inbox (
    complaint_id     text        PRIMARY KEY,
    channel          text,
    received_at      timestamptz,
    customer_name    text,
    customer_contact text,        -- masked: 138****1234 / l***@example.com
    account_id       text,
    segment          text,
    summary          text,        -- the first words of the complaint, contact data scrubbed
    tier             integer,
    complaint_type   text,
    urgency          text,
    group_name       text,
    assignee         text,
    owner            text,
    liaison          text,
    stage            text        NOT NULL DEFAULT 'received',
    next_deadline    timestamptz,
    breached         boolean     NOT NULL DEFAULT false,
    escalation_level integer     NOT NULL DEFAULT 0,
    linked_count     integer     NOT NULL DEFAULT 0,  -- repeat submissions linked to it
    batch_id         text,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbox_open_by_assignee ON workflow.inbox (assignee) WHERE stage <> 'closed';
CREATE INDEX inbox_by_group ON workflow.inbox (group_name, stage, received_at);
CREATE INDEX inbox_by_deadline ON workflow.inbox (next_deadline) WHERE stage <> 'closed';
