// Package sim predicts a plan's wall-clock time, critical path and API
// throttling with a discrete-event simulation: an event heap ordered by
// (time, kind, sequence), an integer clock in microseconds, one seeded RNG
// per trial, and no goroutines inside a trial. Trials are spread over the
// cores; trial i draws only from (seed, i), so the result does not depend on
// the number of cores.
//
// It models the mode's caps, Terraform -parallelism over coalesced
// instances, phase and batch barriers, run-alone operations and token-bucket
// APIs; it never runs anything. The model, decision by decision:
//
//   - Durations are lognormal through p50 and p90 (sigma = ln(p90/p50) /
//     1.2816), a point when p90 <= p50. A draw, and a terraform process's
//     work, is clamped to 100 years (maxDraw): absurd p90/p50 ratios would
//     otherwise overflow the integer clock.
//   - What starts when is package sched's decision, the same code exec
//     runs (docs/scheduler.md): ready operations in the planner's priority
//     order (then ID), as far as max_parallel, region_parallel,
//     component_parallel, the barriers and run-alone allow, terraform
//     instances of one state coalesced, retries with backoff, on_error and
//     AIMD. The engine feeds it the ends of each instant and its wake times;
//     with Options.Outcome (or TrialOutcome) it also feeds it failures and
//     throttles.
//   - A coalesced terraform step (instances sharing Operation.StateKey())
//     is one process: it applies the union of
//     their resources with -parallelism P: ceil(sum / P) rounds, each one
//     draw of the resource time (median and spread weighted by resources);
//     instances with a duration instead take that duration and the process
//     lasts as long as its longest part. All members end with the process.
//     While it runs, newly ready instances of the state wait for the next.
//   - APIs: a token bucket per api and scope (one per region for
//     scope = "region", plus one for non-regional operations), full at the
//     start. A unit (an operation or a terraform process) spreads its calls
//     to each bucket evenly over its work: request k of n at offset
//     (k + 1/2) * work / n. A request that finds less than one token is
//     throttled (a 429) and retried after exponential backoff from
//     retry.backoff, doubled per attempt, capped at retry.max_backoff, with
//     equal jitter; the unit is delayed by the wait. Without a backoff the
//     client waits exactly for the next token (an honoured Retry-After).
//     After retry.max_attempts throttled attempts a request counts as
//     exhausted (a real client would fail the operation) and keeps retrying
//     at the cap, so every trial still yields a time; exhaustion raises the
//     risk to high.
//   - A unit's requests up to the next event of the heap are served in
//     closed form per bucket (until the first one that finds its bucket
//     empty), which gives exactly what one event per request gives, with
//     far fewer events (TestWindowsMatchOneEventPerRequest).
//   - Critical path: the longest dependency path at median durations, each
//     operation alone in its terraform process (no caps, no coalescing).
//     Lower bound: the largest of the critical path, the planner's
//     caps-and-barriers bound (planner.LowerBound), each api's busiest bucket
//     ((requests - burst) / rate) and each terraform state's resources at
//     -parallelism. Efficiency = lower bound / predicted P50.
//   - Risk and recommended caps: see RiskRule and RecommendRule.
//
// Not modelled unless Options.Outcome or Options.TrialOutcome says so
// (calibrate's failure rates come in through TrialOutcome, a draw per
// trial from TrialKey, apart from the duration draws): operation failures,
// and so retries, on_error and exec's AIMD (the API buckets' own 429s delay a unit,
// as the tool's client retries them, but do not fail it). Never modelled:
// locks held by other runs.
package sim
