-- A customer's phone, e-mail and account as hashed keys (services/common/customer_identity.py):
-- an agent who types a caller's number or address in full finds their complaints, and the list
-- still shows the contact masked. NULL: not filled yet (rows older than the column, filled from
-- their ComplaintReceived event when the staff API starts); '{}': none given, or erased.
ALTER TABLE workflow.inbox ADD COLUMN customer_keys text[];
CREATE INDEX inbox_by_customer ON workflow.inbox USING gin (customer_keys);
CREATE INDEX inbox_customer_keys_unfilled ON workflow.inbox (complaint_id) WHERE customer_keys IS NULL;
