-- The groups asked for their view of a complaint (source 002's joint consultation): their members
-- find it on My work, and may answer it (permissions.py), while it stays with its own group.
ALTER TABLE workflow.inbox ADD COLUMN consulted_groups text[];
CREATE INDEX inbox_by_consulted_group ON workflow.inbox USING gin (consulted_groups) WHERE consulted_groups IS NOT NULL;
