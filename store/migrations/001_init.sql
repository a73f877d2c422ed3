-- echelon's shared state store, schema 1 (docs/store.md).

-- One row per process using the store: its lease, judged by the server's
-- clock. A session whose lease_until has passed is dead for good: its
-- heartbeat cannot renew it, and every write it makes is refused.
CREATE TABLE sessions (
    id          bigserial PRIMARY KEY,
    host        text NOT NULL,
    pid         integer NOT NULL,
    started     timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz NOT NULL
);

-- A lock set (one operation's, or one batch's): its holder ID is its
-- fencing token.
CREATE TABLE holders (
    id         bigserial PRIMARY KEY,
    session_id bigint NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    owner      text NOT NULL,
    since      timestamptz NOT NULL DEFAULT now(),
    exclusive  text[] NOT NULL,
    shared     text[] NOT NULL,
    groups     integer[] NOT NULL DEFAULT '{}'
);
CREATE INDEX holders_session ON holders (session_id);

-- The lock names a holder holds, EXCLUSIVE or SHARED.
CREATE TABLE held (
    name      text NOT NULL,
    holder_id bigint NOT NULL REFERENCES holders (id) ON DELETE CASCADE,
    exclusive boolean NOT NULL,
    PRIMARY KEY (name, holder_id)
);
CREATE INDEX held_holder ON held (holder_id);
-- A SHARED request looks only for EXCLUSIVE holders of its names: without
-- this it would read every SHARED holder of a name many hold.
CREATE INDEX held_exclusive ON held (name) WHERE exclusive;

-- Plans (never with secrets: the plan file as written, "(sensitive)"
-- placeholders and all) by plan_digest.
CREATE TABLE plans (
    digest text PRIMARY KEY,
    data   bytea NOT NULL,
    stored timestamptz NOT NULL DEFAULT now()
);

-- Fencing tokens: a run's owner gets a new one each time it takes the run.
CREATE SEQUENCE fence;

-- Runs of a plan: the newest is the plan's current run; --resume continues
-- it, a fresh apply starts another.
CREATE TABLE runs (
    id         bigserial PRIMARY KEY,
    digest     text NOT NULL,
    started    timestamptz NOT NULL DEFAULT now(),
    session_id bigint REFERENCES sessions (id) ON DELETE SET NULL,
    epoch      bigint NOT NULL,
    host       text NOT NULL,
    pid        integer NOT NULL,
    ended      timestamptz,
    outcome    text
);
CREATE INDEX runs_digest ON runs (digest, id);

-- The journal: the records apply writes (docs/state-dir.md), in order.
CREATE TABLE journal (
    run_id bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq    bigserial,
    epoch  bigint NOT NULL,
    rec    text NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- echelon_try_acquire takes a lock set for a live session, all or nothing,
-- in one transaction: the holder's ID, 0 when a live holder is in the way,
-- -1 when the session's lease is gone (the caller is fenced). Acquirers are
-- serialised by a transaction advisory lock; holders of dead sessions in
-- the way are removed.
CREATE FUNCTION echelon_try_acquire(sess bigint, own text, excl text[], shr text[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    hid bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(8206112117);
    IF NOT EXISTS (SELECT 1 FROM sessions WHERE id = sess AND lease_until > now()) THEN
        RETURN -1;
    END IF;
    -- The common case, nothing in the way, costs two index probes.
    IF EXISTS (SELECT 1 FROM held WHERE name = ANY (excl))
       OR EXISTS (SELECT 1 FROM held WHERE exclusive AND name = ANY (shr)) THEN
        DELETE FROM sessions s
         WHERE s.lease_until <= now()
           AND s.id IN (SELECT ho.session_id FROM held h JOIN holders ho ON ho.id = h.holder_id
                         WHERE h.name = ANY (excl)
                        UNION
                        SELECT ho.session_id FROM held h JOIN holders ho ON ho.id = h.holder_id
                         WHERE h.exclusive AND h.name = ANY (shr));
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
