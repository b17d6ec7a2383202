-- A surge (more complaints a minute than intake's threshold, over all channels): one row per
-- episode, shared by every intake process, so that on call is warned once per surge, and still
-- warned when the process that saw it begin dies before notify took the warning.
CREATE TABLE intake.surges (
    started_at timestamptz PRIMARY KEY,
    per_minute integer     NOT NULL,  -- the rate that crossed the threshold
    ended_at   timestamptz,
    warned_at  timestamptz            -- notify took the warning
);
-- At most one surge open at a time: a second process that sees the same surge joins it.
CREATE UNIQUE INDEX surges_one_open ON intake.surges ((ended_at IS NULL)) WHERE ended_at IS NULL;
