package exec

import "strings"

// Errors that are not an operation's own failure: what calibrate leaves
// out of its failure rate (they say nothing of how often the operation
// fails), told by the error text its op_end record keeps.
const (
	// WorkerLostPrefix starts a step's error when its worker was lost
	// (WorkerLostError; sched.Lost): the machine died, not the operation.
	WorkerLostPrefix = "lost its worker"
	// PreviewAgain ends a saved plan's refusal (stale, not previewed,
	// variables changed): nothing was applied.
	PreviewAgain = "preview again (echelon plan)"
)

// NotItsFailure reports whether an op_end error is not the operation's
// own failure: its worker was lost, or its saved plan was refused before
// anything was applied.
func NotItsFailure(msg string) bool {
	return strings.HasPrefix(msg, WorkerLostPrefix) || strings.HasSuffix(strings.TrimSpace(msg), PreviewAgain)
}
