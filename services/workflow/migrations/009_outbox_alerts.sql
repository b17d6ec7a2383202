-- Staff alerts by recipient (a person or a role of a group): the console's list of alerts.
CREATE INDEX outbox_alerts_by_recipient ON workflow.outbox ((request->>'recipient_address'), position)
    WHERE request->>'channel' = 'internal';
