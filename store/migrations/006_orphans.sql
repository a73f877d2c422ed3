-- schema 6 (docs/store.md, "Orphaned process groups"): a holder whose
-- session's lease ran out is not taken over while the process groups its
-- steps started may still run.

-- proc_view: the processes the session's process sees (store.ProcView: boot and
-- PID namespace; '' unknown); lease: its lease, in seconds.
ALTER TABLE sessions ADD COLUMN proc_view text NOT NULL DEFAULT '', ADD COLUMN lease double precision NOT NULL DEFAULT 30;

-- A process group a holder's step started: pgid and its leader's start time
-- (clock ticks since boot, store.ProcStart; 0 unknown), under the session
-- that ran it. seen is when it was last known to run: when recorded, or
-- when a process that can see it (same host and view) found it still
-- running after its session died. A row goes when its holder is let go by
-- its own live session (the step ended), or when a process that can see
-- the group finds it gone (killing it first: store.KillGroup).
CREATE TABLE step_groups (
    holder_id  bigint NOT NULL,
    pgid       integer NOT NULL,
    session_id bigint NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    leader     bigint NOT NULL DEFAULT 0,
    seen       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (holder_id, pgid)
);
CREATE INDEX step_groups_session ON step_groups (session_id);

-- A holder let go while its session's lease holds (a release, a finish)
-- takes its groups' rows with it; one taken over after its lease ran out
-- (or removed by echelon unlock) leaves them, for a process on its host
-- to kill what still runs.
CREATE OR REPLACE FUNCTION echelon_holders_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM held h USING gone g WHERE h.holder_id = g.id;
    DELETE FROM step_groups sg USING gone g, sessions s
     WHERE sg.holder_id = g.id AND s.id = g.session_id AND s.lease_until > now();
    RETURN NULL;
END $$;

-- echelon_take of schema 2, except that a holder in the way whose
-- session's lease has passed is taken over only once none of its groups
-- may still run: each group's row is gone (a process that can see it
-- found it gone, having killed it). A group of another host (or view)
-- than the taker's, which the taker cannot see, holds for one more lease
-- (the dead session's) after the later of its lease's end and when it was
-- last seen running; then the holder is taken over, with a notice
-- ("echelon_orphans" and the holder, as JSON) the taker warns of. -3: busy,
-- with an expired holder in the way (the taker kills the groups on its
-- host and says whose the others are).
CREATE OR REPLACE FUNCTION echelon_take(sess bigint, own text, excl text[], shr text[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    hid bigint;
    me record;
    gone record;
BEGIN
    -- The common case, nothing in the way, costs two index probes.
    IF EXISTS (SELECT 1 FROM held WHERE name = ANY (excl))
       OR EXISTS (SELECT 1 FROM held WHERE exclusive AND name = ANY (shr)) THEN
        SELECT host, proc_view INTO me FROM sessions WHERE id = sess;
        -- Holders in the way whose lease has passed, with whether each may
        -- be taken over now, and the groups of other hosts it leaves.
        FOR gone IN
            SELECT ho.id, ho.owner, s.host, s.pid, s.lease_until,
                   array_agg(g.pgid ORDER BY g.pgid) FILTER (WHERE g.pgid IS NOT NULL) AS pgids,
                   bool_or(g.pgid IS NOT NULL AND ((gs.host = me.host AND gs.proc_view = me.proc_view)
                           OR greatest(g.seen, s.lease_until) + make_interval(secs => s.lease) > now())) AS blocked
              FROM holders ho JOIN sessions s ON s.id = ho.session_id
              LEFT JOIN step_groups g ON g.holder_id = ho.id
              LEFT JOIN sessions gs ON gs.id = g.session_id
             WHERE s.lease_until <= now()
               AND ho.id IN (SELECT h.holder_id FROM held h
                              WHERE h.name = ANY (excl) OR (h.exclusive AND h.name = ANY (shr)))
             GROUP BY ho.id, ho.owner, s.host, s.pid, s.lease_until
        LOOP
            CONTINUE WHEN gone.blocked;
            -- The session is joined to the target row, so a holder moved
            -- to a live session meanwhile (a worker's claim) is kept.
            DELETE FROM holders ho USING sessions s
             WHERE ho.id = gone.id AND s.id = ho.session_id AND s.lease_until <= now();
            IF FOUND AND gone.pgids IS NOT NULL THEN
                RAISE NOTICE 'echelon_orphans %', json_build_object('holder', gone.id, 'owner', gone.owner,
                    'host', gone.host, 'pid', gone.pid, 'lease_until', gone.lease_until, 'groups', gone.pgids);
            END IF;
        END LOOP;
        IF EXISTS (SELECT 1 FROM held WHERE name = ANY (excl))
           OR EXISTS (SELECT 1 FROM held WHERE exclusive AND name = ANY (shr)) THEN
            IF EXISTS (SELECT 1 FROM held h JOIN holders ho ON ho.id = h.holder_id
                         JOIN sessions s ON s.id = ho.session_id
                        WHERE (h.name = ANY (excl) OR (h.exclusive AND h.name = ANY (shr)))
                          AND s.lease_until <= now()) THEN
                RETURN -3;
            END IF;
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
