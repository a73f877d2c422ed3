// Package sim predicts a plan's wall-clock time, critical path and API
// throttling with a discrete-event simulation: an event heap ordered by
// (time, priority, sequence), an integer clock, one seeded RNG per trial,
// and no goroutines inside a trial.
//
// It models the mode's caps, Terraform -parallelism over coalesced
// instances, phase and batch barriers, run-alone operations and token-bucket
// APIs; it never runs anything.
package sim
