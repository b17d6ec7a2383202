-- A warning was sent on this complaint's deadline (the console marks it).
ALTER TABLE workflow.inbox ADD COLUMN warned boolean NOT NULL DEFAULT false;
CREATE INDEX inbox_open_by_deadline ON workflow.inbox (next_deadline, received_at) WHERE stage <> 'closed';
