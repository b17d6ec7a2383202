-- Each time a person was shown a customer's contact in full (services/workflow/contacts.py):
-- who, when and why. It names no customer, so it stays when one is erased.
CREATE TABLE workflow.contact_showings (
    showing_id   bigserial   PRIMARY KEY,
    complaint_id text        NOT NULL,
    staff_id     text        NOT NULL REFERENCES workflow.staff (staff_id),
    purpose      text        NOT NULL,  -- a reason from a list (contacts.Purpose), never typed
    shown_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contact_showings_by_complaint ON workflow.contact_showings (complaint_id, shown_at);
