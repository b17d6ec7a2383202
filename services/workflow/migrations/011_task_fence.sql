-- The workflow task that stored an event, as its history length when it began (a fencing
-- token: a later task of the same workflow has a history at least as long). Null for events
-- stored before this column and for older generations' appends.
ALTER TABLE workflow.events ADD COLUMN task_fence integer;
ALTER TABLE workflow.superseded_events ADD COLUMN task_fence integer;
