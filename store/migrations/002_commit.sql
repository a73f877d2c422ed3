-- schema 2 (docs/store.md, "Speed"): a run's writes in one round trip and
-- one commit (echelon_commit), and lock sets serialised per name rather
-- than all through one advisory lock held across every commit's WAL flush.

-- A holder's held rows go with it by a statement trigger rather than a
-- foreign key: the key's triggers (a query per row inserted, another per
-- row deleted) were most of a lock cycle's cost.
ALTER TABLE held DROP CONSTRAINT held_holder_id_fkey;

CREATE FUNCTION echelon_holders_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM held h USING gone g WHERE h.holder_id = g.id;
    RETURN NULL;
END $$;
CREATE TRIGGER holders_gone AFTER DELETE ON holders REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION echelon_holders_gone();

-- echelon_lock_names takes the transaction advisory lock of each key, in
-- the order given: exclusive where ex is true (a name some set wants
-- EXCLUSIVE), shared otherwise (SHARED takers of a common name do not wait
-- for each other). The caller gives every name of a transaction at once,
-- sorted by key (store.lockKeys: FNV-1a of the name), so two transactions
-- never wait on each other in a cycle. A hash collision only makes two
-- names wait for each other; the held table, read after the locks,
-- decides.
CREATE FUNCTION echelon_lock_names(keys bigint[], ex boolean[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. coalesce(cardinality(keys), 0) LOOP
        IF ex[i] THEN
            PERFORM pg_advisory_xact_lock(keys[i]);
        ELSE
            PERFORM pg_advisory_xact_lock_shared(keys[i]);
        END IF;
    END LOOP;
END $$;

-- echelon_take takes a lock set for sess, its names already locked
-- (echelon_lock_names) and the session's lease checked: the holder's ID, or
-- 0 when a live holder is in the way. Holders of sessions whose lease has
-- passed that are in the way are removed first.
CREATE FUNCTION echelon_take(sess bigint, own text, excl text[], shr text[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    hid bigint;
BEGIN
    -- The common case, nothing in the way, costs two index probes.
    IF EXISTS (SELECT 1 FROM held WHERE name = ANY (excl))
       OR EXISTS (SELECT 1 FROM held WHERE exclusive AND name = ANY (shr)) THEN
        -- The session is joined to the target row, so a holder moved to a
        -- live session meanwhile (a worker's claim) is rechecked and kept.
        DELETE FROM holders ho USING sessions s
         WHERE s.id = ho.session_id AND s.lease_until <= now()
           AND ho.id IN (SELECT h.holder_id FROM held h
                          WHERE h.name = ANY (excl) OR (h.exclusive AND h.name = ANY (shr)));
        IF EXISTS (SELECT 1 FROM held WHERE name = ANY (excl))
           OR EXISTS (SELECT 1 FROM held WHERE exclusive AND name = ANY (shr)) THEN
            RETURN 0;
        END IF;
    END IF;
    INSERT INTO holders (session_id, owner, exclusive, shared) VALUES (sess, own, excl, shr)
        RETURNING id INTO hid;
    INSERT INTO held (name, holder_id, exclusive)
        SELECT n, hid, true FROM unnest(excl) n
        UNION ALL
        SELECT n, hid, false FROM unnest(shr) n WHERE NOT (n = ANY (excl))
        ON CONFLICT DO NOTHING;
    RETURN hid;
END $$;

-- echelon_try_acquire (schema 1's, without its one global lock): the
-- holder's ID, 0 busy, -1 when the session's lease is gone (fenced).
DROP FUNCTION echelon_try_acquire(bigint, text, text[], text[]);
CREATE FUNCTION echelon_try_acquire(sess bigint, own text, excl text[], shr text[], keys bigint[], ex boolean[])
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM sessions WHERE id = sess AND lease_until > now();
    IF NOT FOUND THEN
        RETURN -1;
    END IF;
    PERFORM echelon_lock_names(keys, ex);
    RETURN echelon_take(sess, own, excl, shr);
END $$;

-- echelon_release lets a holder go: 1 done, 0 no such holder of sess (echelon
-- unlock removed it), -1 the session's lease is gone. A release only ever
-- frees, so it does not wait for its WAL flush (synchronous_commit off): a
-- server crash can lose it, and the lock then stays held until its
-- session ends; it can never let two hold one lock.
CREATE FUNCTION echelon_release(sess bigint, hid bigint)
RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM 1 FROM sessions WHERE id = sess AND lease_until > now();
    IF NOT FOUND THEN
        RETURN -1;
    END IF;
    DELETE FROM holders WHERE id = hid AND session_id = sess;
    IF FOUND THEN
        RETURN 1;
    END IF;
    RETURN 0;
END $$;

-- echelon_commit is a run's group commit (store.Run.Commit): entries is a
-- JSON array of {"take": {"o": owner, "x": [excl], "s": [shared]},
-- "recs": [journal lines], "rel": holder}, applied in order; an entry's
-- recs are written only if its take (if any) succeeded. It returns one
-- value per entry: the holder taken (0 busy or none), -2 for a release
-- that found no holder; NULL when the writer is fenced (the session's
-- lease is gone, or the run's epoch is not ep). Every take's names are
-- locked in one sorted pass first (keys, ex: echelon_lock_names). With durable false (only ends and
-- releases, no take) the commit does not wait for its WAL flush: the next
-- durable commit of the run, or of anyone, flushes it (the WAL is one
-- sequence), and the journal asks for one before any later step starts.
-- A run_end sets the run's ended and outcome (end_at not NULL).
CREATE FUNCTION echelon_commit(sess bigint, run bigint, ep bigint, entries jsonb, durable boolean,
                               keys bigint[], ex boolean[], end_at timestamptz, end_outcome text)
RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
    e jsonb;
    out bigint[] := '{}';
    hid bigint;
BEGIN
    IF NOT durable THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    PERFORM 1 FROM sessions WHERE id = sess AND lease_until > now();
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- FOR SHARE: a takeover (a new epoch) waits for this commit, and a
    -- commit after it sees the new epoch.
    PERFORM 1 FROM runs WHERE id = run AND epoch = ep FOR SHARE;
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
        IF (NOT (e ? 'take') OR hid > 0) AND e ? 'recs' THEN
            INSERT INTO journal (run_id, epoch, rec)
                SELECT run, ep, r FROM jsonb_array_elements_text(e -> 'recs') WITH ORDINALITY AS t (r, i)
                ORDER BY i;
        END IF;
        IF e ? 'rel' THEN
            DELETE FROM holders WHERE id = (e ->> 'rel')::bigint AND session_id = sess;
            IF NOT FOUND THEN
                hid := -2;
            END IF;
        END IF;
        out := out || hid;
    END LOOP;
    IF end_at IS NOT NULL THEN
        UPDATE runs SET ended = end_at, outcome = end_outcome WHERE id = run;
    END IF;
    RETURN out;
END $$;
