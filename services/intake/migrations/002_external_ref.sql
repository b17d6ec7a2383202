-- The channel's own id (Message-ID, call id, post id): the same one twice is the same complaint.
ALTER TABLE intake.submissions ADD COLUMN external_ref text;
CREATE UNIQUE INDEX submissions_by_channel_ref ON intake.submissions (channel, external_ref)
    WHERE external_ref IS NOT NULL;
