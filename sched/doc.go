// Package sched is echelon's scheduling policy, written once: which ready
// operations of a plan start now, together or alone, with which terraform
// -parallelism, and what happens when one finishes, fails or is throttled.
//
// It is a deterministic state machine over a compiled plan (a Policy). Its
// inputs are what happened (a step ended with these outcomes, a step could
// not start, time passed); its output is what to start now. It owns every
// decision: the ready list in planner priority order, max_parallel,
// region_parallel, component_parallel, phase and batch barriers, run-alone,
// coalescing of terraform instances that share a state, retries with
// backoff and jitter, on_error, and AIMD on throttling.
//
// Two drivers run it on two clocks: package sim on a virtual clock with
// sampled durations, package exec on the real clock with real processes.
// Time is an int64 count of microseconds since the run started, so both
// see the same arithmetic. Neither takes a scheduling decision of its own;
// the differential test in exec holds them together.
//
// A State is not safe for concurrent use: its driver calls it from one
// goroutine.
package sched
