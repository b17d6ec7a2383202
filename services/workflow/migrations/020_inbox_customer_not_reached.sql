-- A message reached the customer on no address they gave (CustomerNotReached): their handler
-- reaches them another way, and My work marks the complaint so until it closes.
ALTER TABLE workflow.inbox ADD COLUMN customer_not_reached boolean NOT NULL DEFAULT false;
