-- An improvement action given to another owner (its owner is away, or it fits someone else
-- better): each move is kept, who moved it and when, and the new owner is told once
-- (told_at is set when the message is accepted by notify; the move's id is its key).
CREATE TABLE reporting.review_action_moves (
    move_id    uuid        PRIMARY KEY,
    action_id  uuid        NOT NULL REFERENCES reporting.review_actions (action_id),
    from_owner text        NOT NULL,
    to_owner   text        NOT NULL,
    moved_by   text        NOT NULL,
    moved_at   timestamptz NOT NULL DEFAULT now(),
    told_at    timestamptz
);
CREATE INDEX review_action_moves_by_action ON reporting.review_action_moves (action_id, moved_at);
CREATE INDEX review_action_moves_untold ON reporting.review_action_moves (moved_at) WHERE told_at IS NULL;
-- The reviews page by page, newest first.
CREATE INDEX reviews_newest ON reporting.reviews (created_at DESC, review_id DESC);
