-- An idempotency identity (Idempotency-Key, or channel + external reference) belongs to the
-- channel API key that made it: another adapter's key never replays someone else's complaint.
ALTER TABLE intake.submissions ADD COLUMN key_id text NOT NULL DEFAULT '';
ALTER TABLE intake.submissions DROP CONSTRAINT submissions_idempotency_key_key;
CREATE UNIQUE INDEX submissions_by_key_and_idempotency ON intake.submissions (key_id, idempotency_key);
DROP INDEX intake.submissions_by_channel_ref;
CREATE UNIQUE INDEX submissions_by_key_and_channel_ref ON intake.submissions (key_id, channel, external_ref)
    WHERE external_ref IS NOT NULL;
