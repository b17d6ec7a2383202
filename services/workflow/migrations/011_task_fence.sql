-- The workflow task that stored an event: its run and the history length it began with (a
-- fencing token: a later task of the same run has a history at least as long). Null for events
-- stored before these columns and for older generations' appends.
ALTER TABLE workflow.events ADD COLUMN task_run_id text, ADD COLUMN task_fence integer;
ALTER TABLE workflow.superseded_events ADD COLUMN task_run_id text, ADD COLUMN task_fence integer;
