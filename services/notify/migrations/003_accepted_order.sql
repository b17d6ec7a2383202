-- Messages accepted in one batch share created_at (the transaction's time): the order in
-- which notify accepted them is what a complaint's message list shows.
ALTER TABLE notify.notifications ADD COLUMN accepted_order bigint GENERATED ALWAYS AS IDENTITY;
DROP INDEX notify.notifications_by_complaint;
CREATE INDEX notifications_by_complaint ON notify.notifications (complaint_id, accepted_order);
