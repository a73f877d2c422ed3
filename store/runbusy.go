package store

import (
	"fmt"
	"time"
)

// RunBusyError is ErrRunBusy from a database store: the process holding
// the run and when its lease runs out (by the server's clock: In is
// counted there, so no clocks are compared). A holder that died keeps the
// run until then; after that apply --resume takes the run over.
type RunBusyError struct {
	Host       string
	PID        int
	Where      string        // the store, password masked
	LeaseUntil time.Time     // when the holder's lease ends unless renewed
	In         time.Duration // how long from the server's now
	Resume     bool          // the refused open was a --resume
}

func (e *RunBusyError) Error() string {
	then := "then apply --resume takes the run over"
	if e.Resume {
		then = "then --resume takes the run over"
	}
	return fmt.Sprintf("%v (host %s, pid %d) with the store %s; wait for it to finish: its lease runs out at %s UTC (in %s) unless it renews it; %s",
		ErrRunBusy, e.Host, e.PID, e.Where, e.LeaseUntil.UTC().Format(time.TimeOnly), e.In.Round(time.Second), then)
}

func (e *RunBusyError) Unwrap() error { return ErrRunBusy }
