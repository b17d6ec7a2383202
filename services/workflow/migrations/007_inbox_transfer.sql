-- A transfer waiting for the receiving group: its members may accept or decline it.
ALTER TABLE workflow.inbox ADD COLUMN transfer_to text;
