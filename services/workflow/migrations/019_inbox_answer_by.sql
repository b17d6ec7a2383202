-- When the departments asked for their view of a complaint must answer (the policy's
-- consultation_answer): their members' My work counts down to it, not to the complaint's own
-- next deadline. NULL once every department asked has answered, or nothing was asked.
ALTER TABLE workflow.inbox ADD COLUMN answer_by timestamptz;
