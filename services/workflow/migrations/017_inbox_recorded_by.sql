-- Who took a complaint down (a hotline agent, a store's staff): the first to receive it follows it
-- to its close (source 001), so My work lists what they recorded wherever it went. Rows older than
-- the column take it from their ComplaintReceived event.
ALTER TABLE workflow.inbox ADD COLUMN recorded_by text;
CREATE INDEX inbox_by_recorder ON workflow.inbox (recorded_by) WHERE recorded_by IS NOT NULL;
UPDATE workflow.inbox i SET recorded_by = e.data->>'recorded_by'
  FROM workflow.events e
 WHERE e.stream_id = i.complaint_id AND e.type = 'ComplaintReceived' AND e.data->>'recorded_by' IS NOT NULL;
