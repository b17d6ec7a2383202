-- Erasures of a customer's personal data (services/workflow/erasure/): the request and its
-- execution, kept after the data is gone (who asked, why, what each store changed, when).
CREATE TABLE workflow.erasures (
    erasure_id   text        PRIMARY KEY,
    complaint_id text        NOT NULL,            -- the complaint it was asked on
    requested_by text        NOT NULL,            -- staff id
    basis        text        NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    complaints   text[]      NOT NULL,            -- the customer's complaints, found when it began
    repeats      text[]      NOT NULL DEFAULT '{}',  -- of them, repeats linked into another (no workflow)
    erased       jsonb       NOT NULL DEFAULT '{}',  -- complaint -> store -> records changed
    completed_at timestamptz
);
CREATE INDEX erasures_by_time ON workflow.erasures (requested_at);
