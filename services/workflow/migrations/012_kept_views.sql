-- Closed complaints as their workflow last showed them (services/workflow/kept_views.py): Temporal
-- deletes a closed workflow after the namespace's retention (a day on the dev server), and staff
-- and the customer still read the complaint afterwards. An erasure deletes its row.
CREATE TABLE workflow.kept_views (
    complaint_id text        PRIMARY KEY,
    view         jsonb,                         -- NULL: gone from the engine before it was kept
    kept_at      timestamptz NOT NULL DEFAULT now()
);
