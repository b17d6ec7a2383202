-- A review written twice (a form sent again, a retried request) is one review: the writer's
-- Idempotency-Key, with a digest of what it carried, so that a key sent again with other
-- content is refused rather than answered with the first review.
ALTER TABLE reporting.reviews ADD COLUMN idempotency_key text UNIQUE, ADD COLUMN request_digest text;
-- A review of a batch incident names a batch the reports know.
CREATE INDEX complaints_by_batch ON reporting.complaints (batch_id) WHERE batch_id IS NOT NULL;
-- A person's own improvement actions (their page, linked from the console).
CREATE INDEX review_actions_by_owner ON reporting.review_actions (owner, due_at);
