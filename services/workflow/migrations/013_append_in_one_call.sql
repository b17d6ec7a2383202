-- The common append in one statement, one round trip: a step's events continue their stream,
-- none of them is stored yet; its inbox row changes and its messages go with them. Returns the
-- events' positions, or NULL, having changed nothing, when the step needs the careful path of
-- services/workflow/eventstore.py (a retried step, a version another task holds), which ends in
-- the same `store_step` once its own checks pass.

-- The staff inbox row's changes (services/workflow/inbox.py decides which columns each event
-- sets; both ways of appending apply them here).
CREATE FUNCTION workflow.project_inbox(complaint text, changes jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    columns text;
    assignments text;
BEGIN
    IF changes IS NULL OR changes = '{}'::jsonb THEN
        RETURN;
    END IF;
    SELECT string_agg(quote_ident(key), ', '), string_agg(format('%1$I = EXCLUDED.%1$I', key), ', ')
      INTO columns, assignments
      FROM jsonb_object_keys(changes) AS key;
    EXECUTE format(
        'INSERT INTO workflow.inbox (complaint_id, %1$s)
         SELECT $1, %1$s FROM jsonb_populate_record(NULL::workflow.inbox, $2)
         ON CONFLICT (complaint_id) DO UPDATE SET %2$s, updated_at = now()',
        columns, assignments)
    USING complaint, changes;
    -- Whoever acknowledges is the assignee if nobody was.
    IF changes->>'owner' IS NOT NULL THEN
        UPDATE workflow.inbox SET assignee = changes->>'owner' WHERE complaint_id = complaint AND assignee IS NULL;
    END IF;
END $$;

-- A step's messages; a key stored before keeps its first body.
CREATE FUNCTION workflow.enqueue_messages(keys text[], complaints text[], requests jsonb[], traces jsonb[])
RETURNS void LANGUAGE sql AS $$
    INSERT INTO workflow.outbox (idempotency_key, complaint_id, request, trace_context)
    SELECT * FROM unnest(keys, complaints, requests, traces)
    ON CONFLICT (idempotency_key) DO NOTHING;
$$;

-- A checked step stored: its inbox row, its messages, then its events. Positions in commit
-- order, so that a feed reader never passes a position that a slower transaction commits later:
-- the table lock is taken for the insert and held to the commit, and only for that (the checks
-- before it ride on the unique constraints). Both ways of appending end here.
CREATE FUNCTION workflow.store_step(
    event_ids uuid[], stream text, versions integer[], types text[], datas jsonb[], occurred timestamptz[],
    run_id text, fence integer,
    message_keys text[], message_complaints text[], message_requests jsonb[], message_traces jsonb[],
    inbox_changes jsonb
) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
    positions bigint[];
BEGIN
    PERFORM workflow.project_inbox(stream, inbox_changes);
    PERFORM workflow.enqueue_messages(message_keys, message_complaints, message_requests, message_traces);
    LOCK TABLE workflow.events IN EXCLUSIVE MODE;
    WITH inserted AS (
        INSERT INTO workflow.events (event_id, stream_id, version, type, data, occurred_at, task_run_id, task_fence)
        SELECT e.id, stream, e.version, e.type, e.data, e.occurred, run_id, fence
        FROM unnest(event_ids, versions, types, datas, occurred) AS e(id, version, type, data, occurred)
        RETURNING position, version)
    SELECT array_agg(position ORDER BY version) INTO positions FROM inserted;
    RETURN positions;
END $$;

-- The common case checked in the same call: none of the step's events is stored yet and they
-- continue their stream.
CREATE FUNCTION workflow.append_in_one_call(
    event_ids uuid[], stream text, versions integer[], types text[], datas jsonb[], occurred timestamptz[],
    run_id text, fence integer,
    message_keys text[], message_complaints text[], message_requests jsonb[], message_traces jsonb[],
    inbox_changes jsonb
) RETURNS bigint[] LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM workflow.events WHERE event_id = ANY(event_ids))
       OR (SELECT coalesce(max(version), 0) FROM workflow.events WHERE stream_id = stream) <> versions[1] - 1 THEN
        RETURN NULL;
    END IF;
    RETURN workflow.store_step(event_ids, stream, versions, types, datas, occurred, run_id, fence,
                               message_keys, message_complaints, message_requests, message_traces, inbox_changes);
END $$;
