-- Root-cause reviews (source 003): 5W1H of a complaint or a batch incident, and improvement
-- actions with an owner and a deadline; an overdue action is reminded once a day.
CREATE TABLE reporting.reviews (
    review_id    uuid        PRIMARY KEY,
    complaint_id text,
    batch_id     text,
    what         text        NOT NULL,
    why          text        NOT NULL,
    who          text        NOT NULL,
    when_        text        NOT NULL,
    where_       text        NOT NULL,
    how          text        NOT NULL,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (complaint_id IS NOT NULL OR batch_id IS NOT NULL)
);
CREATE TABLE reporting.review_actions (
    action_id   uuid        PRIMARY KEY,
    review_id   uuid        NOT NULL REFERENCES reporting.reviews (review_id),
    action      text        NOT NULL,
    owner       text        NOT NULL,
    due_at      timestamptz NOT NULL,
    done_at     timestamptz,
    done_by     text,
    reminded_on date        -- the last day an overdue reminder went out
);
CREATE INDEX review_actions_open ON reporting.review_actions (due_at) WHERE done_at IS NULL;
