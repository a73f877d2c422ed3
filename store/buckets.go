package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Shared api buckets (docs/store.md, "Shared api buckets"): one token
// bucket per api (and region, for a region-scoped api) in the database,
// shared by every runner using it, refilled by the server's clock. A step
// reserves its calls' tokens before its driver starts and waits out its
// deficit, so applies calling one api pace each other instead of each
// learning its limit alone from 429s.

// BucketTake is a reservation from one shared bucket.
type BucketTake struct {
	// Name is the bucket: the api's name, "api@region" for a
	// region-scoped api.
	Name string
	// Rate (tokens per second) and Burst (its size) are the taker's plan's.
	Rate, Burst float64
	// N is how many tokens to take (negative: give them back).
	N float64
}

// TakeTokens reserves each take's tokens in one statement (one
// transaction, the buckets locked in name order) and returns how long the
// caller must wait before using them: the longest of the buckets' waits.
// A take of one name twice is one take of their sum.
func (p *Postgres) TakeTokens(ctx context.Context, takes []BucketTake) (time.Duration, error) {
	takes, err := mergeTakes(takes)
	if err != nil || len(takes) == 0 {
		return 0, err
	}
	names := make([]string, len(takes))
	rates := make([]float64, len(takes))
	bursts := make([]float64, len(takes))
	ns := make([]float64, len(takes))
	for i, t := range takes {
		names[i], rates[i], bursts[i], ns[i] = t.Name, t.Rate, t.Burst, t.N
	}
	var secs float64
	for try := 0; ; try++ {
		err = p.pool.QueryRow(ctx, `SELECT coalesce(max(echelon_take_tokens(t.n, t.r, t.b, t.k)), 0)
			FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[]) AS t (n, r, b, k)`,
			names, rates, bursts, ns).Scan(&secs)
		if !isDeadlock(err) || try == 2 {
			break
		}
	}
	if err != nil {
		return 0, fmt.Errorf("store %s: api buckets %s: %w", p.where, strings.Join(names, ", "), err)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// mergeTakes checks takes and sums those of one name, sorted by name
// (the order the buckets are locked in).
func mergeTakes(takes []BucketTake) ([]BucketTake, error) {
	var out []BucketTake
	for _, t := range takes {
		switch {
		case t.Name == "":
			return nil, errors.New("api bucket: no name")
		case !(t.Rate > 0) || math.IsInf(t.Rate, 0):
			return nil, fmt.Errorf("api bucket %s: rate %v, want > 0", t.Name, t.Rate)
		case !(t.Burst >= 1) || math.IsInf(t.Burst, 0):
			return nil, fmt.Errorf("api bucket %s: burst %v, want >= 1", t.Name, t.Burst)
		case math.IsNaN(t.N) || math.IsInf(t.N, 0):
			return nil, fmt.Errorf("api bucket %s: %v tokens", t.Name, t.N)
		}
		if i := slices.IndexFunc(out, func(o BucketTake) bool { return o.Name == t.Name }); i >= 0 {
			out[i].N += t.N
			continue
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b BucketTake) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Bucket is a shared bucket as the store has it.
type Bucket struct {
	Name    string    `json:"name"`
	Tokens  float64   `json:"tokens"` // as of Updated (negative: reserved ahead)
	Updated time.Time `json:"updated"`
	Rate    float64   `json:"rate"`
	Burst   float64   `json:"burst"`
}

// Buckets lists the shared buckets by name.
func (p *Postgres) Buckets(ctx context.Context) ([]Bucket, error) {
	rows, err := p.pool.Query(ctx, "SELECT name, tokens, updated, rate, burst FROM api_buckets ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", p.where, err)
	}
	defer rows.Close()
	var out []Bucket
	for rows.Next() {
		var b Bucket
		if err := rows.Scan(&b.Name, &b.Tokens, &b.Updated, &b.Rate, &b.Burst); err != nil {
			return nil, fmt.Errorf("store %s: %w", p.where, err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store %s: %w", p.where, err)
	}
	return out, nil
}
