package exec

import "time"

// Event is one thing that happened during a run: what the progress view
// shows, what --json prints one per line, and (for the durable kinds) what
// the journal records.
type Event struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"` // see the Ev* constants

	Op       string   `json:"op,omitempty"`
	Ops      []string `json:"ops,omitempty"` // a coalesced step's ops
	Attempt  int      `json:"attempt,omitempty"`
	Step     int      `json:"step,omitempty"`     // op_start: the step's number in the run (coalesced instances share it)
	Outcome  string   `json:"outcome,omitempty"`  // succeeded, failed, skipped, cancelled
	Duration float64  `json:"duration,omitempty"` // seconds
	Log      string   `json:"log,omitempty"`
	// Worker is the worker (host:pid) that claimed a dispatched step
	// (claimed).
	Worker string `json:"worker,omitempty"`
	Error  string `json:"error,omitempty"`
	// Paced: op_end, the seconds its step waited for tokens of the shared
	// api buckets before its driver started (Duration leaves them out);
	// paced, the wait about to begin.
	Paced float64 `json:"paced,omitempty"`
	// Queued: op_end of a step run by a worker, the seconds between its
	// dispatch and its result that the worker did not spend on it
	// (waiting to be claimed, the store's round trips); Duration is the
	// worker's own time for the step, so calibration learns what the
	// step takes, not how busy the workers were.
	Queued float64 `json:"queued,omitempty"`

	// Throttling and AIMD.
	RetryAfter  float64 `json:"retry_after,omitempty"` // seconds
	Parallel    int     `json:"parallel,omitempty"`    // effective max in flight after the change
	Parallelism int     `json:"parallelism,omitempty"` // effective terraform -parallelism after the change

	// Driver progress (terraform -json): resource address and message.
	Resource string `json:"resource,omitempty"`
	Message  string `json:"message,omitempty"`
	// Action is run_start's plan action (deploy, destroy) and, on a
	// resource record that ends one (Duration is its time), Terraform's
	// action on it (create, update, delete, ...).
	Action string `json:"action,omitempty"`

	// Outputs are a producer's Terraform outputs (an outputs record),
	// sensitive values as "(sensitive)".
	Outputs map[string]OutputValue `json:"outputs,omitempty"`

	PlanDigest string `json:"plan_digest,omitempty"`
	// Predicted is the run's prediction (run_start, when apply made one).
	Predicted *Predicted `json:"predicted,omitempty"`
	// Cores is the machine's number of CPUs (run_start): calibrate takes
	// the slowdown of start-ups beyond them off the overhead it fits.
	Cores int `json:"cores,omitempty"`
}

// Predicted is a run's predicted wall-clock time in seconds, over Trials
// simulated runs of its plan.
type Predicted struct {
	Trials int     `json:"trials"`
	P10    float64 `json:"p10"`
	P50    float64 `json:"p50"`
	P90    float64 `json:"p90"`
}

// Event kinds.
const (
	EvRunStart = "run_start"
	EvRunEnd   = "run_end"
	EvOpStart  = "op_start"
	EvOpEnd    = "op_end"
	EvOpSkip   = "op_skip"
	EvThrottle = "throttle"    // a step was throttled
	EvAIMD     = "parallelism" // effective parallelism changed
	EvRetry    = "retry"       // an op waits before its next attempt
	EvResource = "resource"    // driver progress
	EvLockWait = "lock_wait"
	EvStopping = "stopping" // no new work will start
	EvWarning  = "warning"  // the user should know; the run goes on
	EvOutputs  = "outputs"  // a producer's outputs, read after it succeeded (journal only)
	EvPaced    = "paced"    // a step waits for shared api tokens (Paced seconds; Message: the buckets)
	// EvWorkerWait: a dispatched step (apply --workers) has waited
	// Duration seconds unclaimed; Message says for which labels and which
	// workers are live.
	EvWorkerWait = "worker_wait"
	// EvClaimed: a worker (Worker, host:pid) claimed a dispatched step,
	// as the coordinator learned it.
	EvClaimed = "claimed"
)

// EventFormatVersion is the version of apply --json's event lines (their
// "format_version").
const EventFormatVersion = "1"
