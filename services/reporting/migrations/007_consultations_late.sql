-- Whether an asked department answered only after the consultation's answer-by had passed and its
-- lead had been told (the workflow's escalation names the departments late). No consultation
-- escalated before this migration (the answer-by is new with it), so nothing is rebuilt.
ALTER TABLE reporting.complaint_consultations ADD COLUMN late boolean NOT NULL DEFAULT false;
