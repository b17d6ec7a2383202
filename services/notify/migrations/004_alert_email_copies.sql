-- The e-mail copies of staff alerts (to a person whose roster entry gives an e-mail): kept when the
-- alert reaches the console, then sent together, one e-mail a person for all that waited
-- (services/notify/alert_emails.py). `email_id`: the notification that carried it.
CREATE TABLE notify.alert_email_copies (
    alert_id    uuid        PRIMARY KEY REFERENCES notify.notifications (id),
    email       text        NOT NULL,
    kept_at     timestamptz NOT NULL DEFAULT now(),
    email_id    uuid        REFERENCES notify.notifications (id)
);
CREATE INDEX alert_email_copies_waiting ON notify.alert_email_copies (email, kept_at) WHERE email_id IS NULL;
