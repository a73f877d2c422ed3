package exec

import (
	"sort"

	"github.com/echelonhq/echelon/sched"
)

// Failure is one operation that failed for good, or that the run stopped
// short of finishing (Result.Cancelled, Result.RetryPending): its last
// attempt's error and log.
type Failure struct {
	Op       string `json:"op"`
	Log      string `json:"log"`
	Error    string `json:"error"`
	Attempts int    `json:"attempts,omitempty"` // attempts so far, earlier runs included
}

// Result summarises a run.
type Result struct {
	RunDir    string    `json:"run_dir"`
	Journal   string    `json:"journal"`
	Succeeded []string  `json:"succeeded"`
	Resumed   []string  `json:"resumed"` // succeeded in an earlier run
	Failed    []Failure `json:"failed"`
	Skipped   []string  `json:"skipped"`
	NotRun    []string  `json:"not_run"`   // never started: the run stopped first
	Throttled int       `json:"throttled"` // throttled attempts
	// Paced is the seconds steps waited for tokens of the shared api
	// buckets (a database store), PacedSteps how many steps waited.
	Paced      float64 `json:"paced,omitempty"`
	PacedSteps int     `json:"paced_steps,omitempty"`
	Duration   float64 `json:"duration"` // seconds
	// Cancelled were running when running work was cancelled (the second
	// Ctrl-C); RetryPending failed an attempt and were due another when the
	// run stopped. --resume runs both again.
	Cancelled    []Failure `json:"cancelled"`
	RetryPending []Failure `json:"retry_pending"`
	// Timings are the operations that ran in this run, by ID: their last
	// attempt's start and end, seconds from the run's start (for laying
	// the run beside its prediction).
	Timings []Timing `json:"-"`
}

// Timing is an operation's last attempt in a run.
type Timing struct {
	Op         string
	Phase      string
	Start, End float64
	// Paced is how long the attempt waited for shared api tokens before
	// its driver started or, run by a worker, to be claimed (seconds,
	// within Start-End): not the operation's own time, which a
	// prediction holds it to.
	Paced float64
	OK    bool // the attempt succeeded
}

// OK reports whether every operation succeeded.
func (r *Result) OK() bool {
	return len(r.Failed) == 0 && len(r.Skipped) == 0 && len(r.NotRun) == 0 &&
		len(r.Cancelled) == 0 && len(r.RetryPending) == 0
}

// summarize fills the Result from every operation's final state: what
// failed, was skipped, was cut short or never started. Lists are never nil.
func (r *runner) summarize() *Result {
	res := r.res
	for _, s := range r.ops {
		switch r.sch.Status(s.rank) {
		case sched.Succeeded:
		case sched.Failed:
			res.Failed = append(res.Failed, Failure{Op: s.op.ID, Log: s.lastLog, Error: r.red.String(s.lastErr)})
		case sched.Skipped:
			res.Skipped = append(res.Skipped, s.op.ID)
		default:
			// Pending: tell what ran (and has an error and a log to show)
			// from what never started.
			f := Failure{Op: s.op.ID, Log: s.lastLog, Error: r.red.String(s.lastErr), Attempts: r.sch.Attempts(s.rank)}
			switch {
			case s.cancelled:
				res.Cancelled = append(res.Cancelled, f)
			case s.lastErr != "":
				res.RetryPending = append(res.RetryPending, f)
			default:
				res.NotRun = append(res.NotRun, s.op.ID)
			}
		}
	}
	sort.Strings(res.Resumed)
	sort.Strings(res.Succeeded)
	res.Timings = res.Timings[:0]
	for _, s := range r.ops {
		if s.ran {
			res.Timings = append(res.Timings, Timing{Op: s.op.ID, Phase: s.op.Phase, Start: s.lastStart, End: s.lastEnd,
				Paced: s.lastPaced, OK: r.sch.Status(s.rank) == sched.Succeeded})
		}
	}
	for _, l := range []*[]string{&res.Succeeded, &res.Resumed, &res.Skipped, &res.NotRun} {
		if *l == nil {
			*l = []string{}
		}
	}
	for _, l := range []*[]Failure{&res.Failed, &res.Cancelled, &res.RetryPending} {
		if *l == nil {
			*l = []Failure{}
		}
	}
	return res
}
