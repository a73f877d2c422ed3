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
//   - Ready operations start in the planner's priority order (then ID), as
//     far as max_parallel, region_parallel (a non-regional operation takes no
//     region slot), component_parallel and the barriers allow: exec's
//     policy. A ready run-alone operation is never overtaken: nothing else
//     starts until everything in flight has drained and it has run.
//   - Terraform instances sharing Operation.StateKey() run as one process:
//     at the first ready instance of a state, every ready instance of that
//     state that fits the caps joins it. The process applies the union of
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
// Not modelled: failures and operation retries (on_error, retries), exec's
// adaptive parallelism after 429s, locks held by other runs.
package sim
