-- A customer's message that failed for good with no address left (a dead letter) is told to its
-- complaint, whose handler then reaches the customer another way (services/workflow/undelivered.py).
-- complaint_told_at: when the workflow service took it up; an operator's retry clears it, so a
-- message that fails for good again is told again.
ALTER TABLE notify.notifications ADD COLUMN complaint_told_at timestamptz;
CREATE INDEX notifications_untold_dead_letters ON notify.notifications (created_at)
    WHERE status = 'failed' AND complaint_told_at IS NULL AND complaint_id IS NOT NULL;
