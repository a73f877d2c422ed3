-- schema 4 (docs/store.md, "Spec bundles" and "Logs"): the files of a
-- plan's spec, for workers without a checkout, and the steps' log files,
-- for readers on other machines.

-- A spec bundle is content-addressed: one row per file content (its
-- sha256), shared by every spec that holds it, and one manifest per spec
-- digest naming its files (path below the bundle's root -> content digest,
-- size, mode). A second plan of the same spec stores nothing new.
CREATE TABLE bundle_files (
    digest text PRIMARY KEY,
    size   bigint NOT NULL,
    data   bytea NOT NULL,
    stored timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE bundles (
    spec_digest text PRIMARY KEY,
    manifest    jsonb NOT NULL,
    stored      timestamptz NOT NULL DEFAULT now()
);

-- One attempt's log file (already masked of secrets as written), as the
-- machine that ran it (host) stored it when the attempt ended: its last
-- MiB, and how many bytes were cut from its front (truncated).
CREATE TABLE logs (
    run_id    bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    op        text NOT NULL,
    attempt   integer NOT NULL,
    host      text NOT NULL,
    data      bytea NOT NULL,
    truncated bigint NOT NULL DEFAULT 0,
    stored    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, op, attempt, host)
);

-- echelon_put_log stores a log, only while the writer's lease holds and
-- it holds what it ran the attempt under: the run's epoch (an apply's own
-- step: task NULL) or the task's claim (a worker's; a task given up as
-- lost meanwhile still takes its worker's log, the attempt did run). 1
-- stored, 0 refused, -1 the writer's lease is gone. A log is not waited
-- for (synchronous_commit off for this transaction): a server crash may
-- lose one, never a lock or a journal record.
CREATE FUNCTION echelon_put_log(sess bigint, run bigint, ep bigint, task bigint, tok bigint,
                                op_id text, att integer, h text, body bytea, cut bigint)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    rid bigint;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM 1 FROM sessions WHERE id = sess AND lease_until > now();
    IF NOT FOUND THEN
        RETURN -1;
    END IF;
    IF task IS NULL THEN
        SELECT r.id INTO rid FROM runs r WHERE r.id = run AND r.epoch = ep;
    ELSE
        SELECT k.run_id INTO rid FROM tasks k WHERE k.id = task AND k.claim = tok AND k.worker_id = sess;
    END IF;
    IF rid IS NULL THEN
        RETURN 0;
    END IF;
    INSERT INTO logs (run_id, op, attempt, host, data, truncated) VALUES (rid, op_id, att, h, body, cut)
        ON CONFLICT (run_id, op, attempt, host)
        DO UPDATE SET data = excluded.data, truncated = excluded.truncated, stored = now();
    RETURN 1;
END $$;
