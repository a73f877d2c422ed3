-- Schema 7: a task withdrawn before any worker claimed it (apply's first
-- Ctrl-C, or its cancel of a ready task) has no worker: it stays
-- cancelled. Schema 3's echelon_task_state took "no session for its
-- worker" to mean the worker was gone and marked such a task lost.
CREATE OR REPLACE FUNCTION echelon_task_state(ids bigint[])
RETURNS TABLE (id bigint, state text, result jsonb, worker text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    UPDATE tasks k SET state = 'lost'
      FROM sessions w
     WHERE k.id = ANY (ids) AND k.state IN ('claimed', 'cancelled') AND w.id = k.worker_id
       AND w.lease_until <= now();
    UPDATE tasks k SET state = 'lost'
     WHERE k.id = ANY (ids) AND k.state IN ('claimed', 'cancelled') AND k.worker_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM sessions w WHERE w.id = k.worker_id);
    RETURN QUERY SELECT k.id, k.state, k.result, coalesce(w.host || ':' || w.pid, '')
      FROM tasks k LEFT JOIN sessions w ON w.id = k.worker_id WHERE k.id = ANY (ids);
END $$;
