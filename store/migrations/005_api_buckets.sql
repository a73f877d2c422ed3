-- schema 5 (docs/store.md, "Shared api buckets" and "Previews in the
-- store"): token buckets every runner shares, and previews' summaries.

-- One token bucket per api (per api and region for a region-scoped one):
-- tokens as of updated (the server's clock), refilled at rate per second up
-- to burst. tokens goes negative when takers reserve ahead of the refill
-- (each then waits for its deficit). rate and burst are the last taker's.
CREATE TABLE api_buckets (
    name    text PRIMARY KEY,
    tokens  double precision NOT NULL,
    updated timestamptz NOT NULL,
    rate    double precision NOT NULL CHECK (rate > 0),
    burst   double precision NOT NULL CHECK (burst >= 1)
);

-- echelon_take_tokens reserves n tokens from the bucket named bucket,
-- refilled first by the server's clock to the start of the statement
-- (tokens = least(burst, tokens + rate * elapsed)), and returns how many
-- seconds the taker waits before using them: its deficit / rate, 0 when
-- the bucket had them. One statement: the row's lock serialises takers
-- (INSERT ... ON CONFLICT DO UPDATE locks the row and reads its latest
-- version), and the first use inserts a full bucket. A negative n gives
-- tokens back (a cancelled wait), never above burst. Every take uses its
-- own rate and burst (the plan's) and leaves them in the row. updated
-- never goes back (a taker whose statement began before the last one's
-- counts from it), so the tokens refilled over any span of takes are
-- exactly rate times it, less what the burst cap cut off.
--
-- (Named apart from schema 2's echelon_take, which takes a lock set.)
CREATE FUNCTION echelon_take_tokens(bucket text, r double precision, b double precision, n double precision)
RETURNS double precision LANGUAGE sql AS $$
    INSERT INTO api_buckets AS k (name, tokens, updated, rate, burst)
        VALUES (bucket, least(b, b - n), statement_timestamp(), r, b)
    ON CONFLICT (name) DO UPDATE SET
        tokens  = least(excluded.burst,
                        least(excluded.burst, k.tokens + excluded.rate *
                              greatest(0, extract(epoch FROM excluded.updated - k.updated)::double precision)) - n),
        updated = greatest(k.updated, excluded.updated),
        rate    = excluded.rate,
        burst   = excluded.burst
    RETURNING greatest(0, -k.tokens) / k.rate
$$;

-- A preview's summary (`echelon plan PLAN --store`), by plan digest: what
-- preview.json holds less the variables' digest (the saved plans, which
-- hold every variable in clear, stay on the machine that made them), where
-- they are (host, state directory), and when it was made. A newer preview
-- of the plan replaces an older one.
CREATE TABLE previews (
    digest  text PRIMARY KEY,
    host    text NOT NULL,
    dir     text NOT NULL,
    created timestamptz NOT NULL,
    summary jsonb NOT NULL,
    stored  timestamptz NOT NULL DEFAULT now()
);
