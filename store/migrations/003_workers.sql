-- schema 3 (docs/store.md, "Workers"): steps dispatched to workers.

-- Workers are sessions with labels and slots (NULL slots: not a worker).
ALTER TABLE sessions ADD COLUMN labels jsonb NOT NULL DEFAULT '{}', ADD COLUMN slots integer;

-- A task is one attempt of one step a coordinator (an apply --workers)
-- dispatched: ready until a worker claims it; claimed, under the worker's
-- session and a claim token (a fencing token from fence), while it runs;
-- then done (result), lost (its worker's lease ran out: the coordinator
-- runs the step again as the next attempt) or cancelled. The step's lock
-- set (holder_id) is the coordinator's until a worker claims the task, then
-- the worker's: whoever runs a step holds its locks, under its own lease.
CREATE TABLE tasks (
    id        bigserial PRIMARY KEY,
    run_id    bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    epoch     bigint NOT NULL,
    digest    text NOT NULL,
    coord_id  bigint NOT NULL,
    step      jsonb NOT NULL,
    labels    jsonb NOT NULL DEFAULT '{}',
    holder_id bigint,
    state     text NOT NULL DEFAULT 'ready',
    worker_id bigint,
    claim     bigint,
    claimed   timestamptz,
    result    jsonb,
    created   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_ready ON tasks (id) WHERE state = 'ready';
CREATE INDEX tasks_worker ON tasks (worker_id) WHERE state = 'claimed' OR state = 'cancelled';

-- echelon_commit of schema 2, where an entry may also carry "task": {"step":
-- ..., "labels": {...}}: inserted with the entry's lock set (only if it was
-- taken), its ID returned in place of the holder's, and the workers woken
-- (NOTIFY echelon_tasks, delivered at commit).
CREATE OR REPLACE FUNCTION echelon_commit(sess bigint, run bigint, ep bigint, entries jsonb, durable boolean,
                               keys bigint[], ex boolean[], end_at timestamptz, end_outcome text)
RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
    e jsonb;
    out bigint[] := '{}';
    hid bigint;
    dig text;
    tasks boolean := false;
BEGIN
    IF NOT durable THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    PERFORM 1 FROM sessions WHERE id = sess AND lease_until > now();
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT digest INTO dig FROM runs WHERE id = run AND epoch = ep FOR SHARE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM echelon_lock_names(keys, ex);
    FOR e IN SELECT value FROM jsonb_array_elements(entries) LOOP
        hid := 0;
        IF e ? 'take' THEN
            hid := echelon_take(sess, e -> 'take' ->> 'o',
                ARRAY(SELECT jsonb_array_elements_text(e -> 'take' -> 'x')),
                ARRAY(SELECT jsonb_array_elements_text(e -> 'take' -> 's')));
        END IF;
        IF NOT (e ? 'take') OR hid > 0 THEN
            IF e ? 'recs' THEN
                INSERT INTO journal (run_id, epoch, rec)
                    SELECT run, ep, r FROM jsonb_array_elements_text(e -> 'recs') WITH ORDINALITY AS t (r, i)
                    ORDER BY i;
            END IF;
            IF e ? 'task' THEN
                INSERT INTO tasks (run_id, epoch, digest, coord_id, step, labels, holder_id)
                    VALUES (run, ep, dig, sess, e -> 'task' -> 'step', coalesce(e -> 'task' -> 'labels', '{}'),
                            nullif(hid, 0))
                    RETURNING id INTO hid;
                tasks := true;
            END IF;
        END IF;
        IF e ? 'rel' THEN
            DELETE FROM holders WHERE id = (e ->> 'rel')::bigint AND session_id = sess;
            IF NOT FOUND THEN
                hid := -2;
            END IF;
        END IF;
        out := out || hid;
    END LOOP;
    IF tasks THEN
        PERFORM pg_notify('echelon_tasks', '');
    END IF;
    IF end_at IS NOT NULL THEN
        UPDATE runs SET ended = end_at, outcome = end_outcome WHERE id = run;
    END IF;
    RETURN out;
END $$;

-- echelon_claim claims up to want ready tasks for the worker sess whose
-- labels the worker has, oldest first (FOR UPDATE SKIP LOCKED: workers
-- claiming at once take different tasks), and moves each one's lock set
-- to the worker's session. A task is claimed only while its run's epoch is
-- the task's and its coordinator's lease holds; one whose lock set is gone
-- (its coordinator's lease ran out and another apply reclaimed the set) is
-- cancelled instead. NULL: the worker's own lease is gone.
CREATE FUNCTION echelon_claim(sess bigint, want integer, wlabels jsonb)
RETURNS TABLE (id bigint, digest text, step jsonb, claim bigint) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    t record;
BEGIN
    PERFORM 1 FROM sessions s WHERE s.id = sess AND s.lease_until > now();
    IF NOT FOUND THEN
        RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::jsonb, NULL::bigint;
        RETURN;
    END IF;
    FOR t IN
        SELECT k.id, k.digest, k.step, k.holder_id FROM tasks k
          JOIN runs r ON r.id = k.run_id AND r.epoch = k.epoch
          JOIN sessions c ON c.id = k.coord_id AND c.lease_until > now()
         WHERE k.state = 'ready' AND k.labels <@ wlabels
         ORDER BY k.id
         LIMIT want
           FOR UPDATE OF k SKIP LOCKED
    LOOP
        IF t.holder_id IS NOT NULL THEN
            UPDATE holders h SET session_id = sess FROM sessions c
             WHERE h.id = t.holder_id AND c.id = h.session_id AND c.lease_until > now();
            IF NOT FOUND THEN
                UPDATE tasks SET state = 'cancelled' WHERE tasks.id = t.id;
                CONTINUE;
            END IF;
        END IF;
        id := t.id;
        digest := t.digest;
        step := t.step;
        claim := nextval('fence');
        UPDATE tasks SET state = 'claimed', worker_id = sess, claim = echelon_claim.claim, claimed = now()
         WHERE tasks.id = t.id;
        RETURN NEXT;
    END LOOP;
END $$;

-- echelon_finish records a claimed task's result and lets its lock set go,
-- if the claim is still the worker's and its lease holds: 1 done, 0 refused
-- (the task was given up as lost, or cancelled and ended elsewhere), -1 the
-- worker's lease is gone. The coordinator is woken (NOTIFY echelon_done,
-- with the result when it fits).
CREATE FUNCTION echelon_finish(sess bigint, task bigint, tok bigint, res jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    hid bigint;
BEGIN
    PERFORM 1 FROM sessions WHERE id = sess AND lease_until > now();
    IF NOT FOUND THEN
        RETURN -1;
    END IF;
    UPDATE tasks SET state = 'done', result = res
     WHERE id = task AND worker_id = sess AND claim = tok AND state IN ('claimed', 'cancelled')
    RETURNING holder_id INTO hid;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    IF hid IS NOT NULL THEN
        DELETE FROM holders WHERE id = hid AND session_id = sess;
    END IF;
    -- The result rides in the notification when it fits (a payload is at
    -- most 8000 bytes): the coordinator then need not read it back.
    PERFORM pg_notify('echelon_done', CASE WHEN octet_length(res::text) < 7000
        THEN jsonb_build_object('id', task, 'result', res)::text ELSE task::text END);
    RETURN 1;
END $$;

-- echelon_task_state is what a coordinator waits on: each task's state
-- and result. A claimed task whose worker's lease has run out is given up
-- as lost here (so that worker's late result is refused).
CREATE FUNCTION echelon_task_state(ids bigint[])
RETURNS TABLE (id bigint, state text, result jsonb, worker text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    UPDATE tasks k SET state = 'lost'
      FROM sessions w
     WHERE k.id = ANY (ids) AND k.state IN ('claimed', 'cancelled') AND w.id = k.worker_id
       AND w.lease_until <= now();
    UPDATE tasks k SET state = 'lost'
     WHERE k.id = ANY (ids) AND k.state IN ('claimed', 'cancelled')
       AND NOT EXISTS (SELECT 1 FROM sessions w WHERE w.id = k.worker_id);
    RETURN QUERY SELECT k.id, k.state, k.result, coalesce(w.host || ':' || w.pid, '')
      FROM tasks k LEFT JOIN sessions w ON w.id = k.worker_id WHERE k.id = ANY (ids);
END $$;
