-- The tier beside department spans and transfers too: a report for one tier narrows them alike.
ALTER TABLE reporting.complaint_departments ADD COLUMN tier integer;
ALTER TABLE reporting.complaint_transfers ADD COLUMN tier integer;
UPDATE reporting.checkpoints SET position = 0 WHERE projection = 'complaints';  -- rebuilt with it
TRUNCATE reporting.complaints, reporting.complaint_targets, reporting.complaint_escalations,
    reporting.complaint_departments, reporting.complaint_transfers;
