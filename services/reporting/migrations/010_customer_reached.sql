-- Whether the written result and the survey reached the customer (source 001: feedback completed
-- >= 95 %, satisfaction follow-ups >= 90 %). A message given up on every address the customer
-- gave is told to its complaint as CustomerNotReached; no complaint had one before this
-- migration, so nothing is rebuilt.
ALTER TABLE reporting.complaints
    ADD COLUMN feedback_undelivered boolean NOT NULL DEFAULT false,
    ADD COLUMN survey_undelivered boolean NOT NULL DEFAULT false;
