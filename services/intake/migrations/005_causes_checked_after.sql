-- Batch incidents are looked for after the 202, not before it: a pass a few times a second
-- checks each cause once for all the complaints that came in since (a surge about one outage
-- costs one check, not thousands). A row waits here until a pass has checked it, so a complaint
-- accepted just before intake stopped is checked by whichever replica runs the next pass.
ALTER TABLE intake.submissions ADD COLUMN cause_checked_at timestamptz;
UPDATE intake.submissions SET cause_checked_at = received_at WHERE cause IS NOT NULL;  -- checked on arrival
CREATE INDEX submissions_cause_unchecked ON intake.submissions (received_at)
    WHERE cause IS NOT NULL AND cause_checked_at IS NULL;
