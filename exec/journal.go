package exec

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
)

// journal is the append-only JSON-lines record of a run. Append returns only
// once the record is on disk (fsync). Concurrent appends share one fsync
// (group commit): with 24 steps in flight a burst of records costs one
// flush, which keeps the journal from dominating short operations.
type journal struct {
	path string
	f    *os.File

	mu       sync.Mutex
	cond     *sync.Cond
	buf      []byte
	queued   uint64 // sequence of the last record put in buf
	durable  uint64 // sequence of the last record fsynced
	flushing bool
	err      error // sticky write error
}

func openJournal(path string) (*journal, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	j := &journal{path: path, f: f}
	j.cond = sync.NewCond(&j.mu)
	return j, nil
}

// Append writes one event as a JSON line and waits until it is durable.
func (j *journal) Append(ev Event) error {
	line, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	line = append(line, '\n')

	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	j.buf = append(j.buf, line...)
	j.queued++
	mine := j.queued
	for j.durable < mine {
		if j.err != nil {
			return j.err
		}
		if j.flushing {
			j.cond.Wait()
			continue
		}
		// Become the flusher for everything queued so far.
		j.flushing = true
		data, upto := j.buf, j.queued
		j.buf = nil
		j.mu.Unlock()
		_, werr := j.f.Write(data)
		if werr == nil {
			werr = j.f.Sync()
		}
		j.mu.Lock()
		j.flushing = false
		if werr != nil {
			j.err = fmt.Errorf("journal %s: %w", j.path, werr)
		} else {
			j.durable = upto
		}
		j.cond.Broadcast()
	}
	return j.err
}

func (j *journal) Close() error { return j.f.Close() }

// opRecord is what a journal says about one operation.
type opRecord struct {
	Succeeded bool
	InFlight  bool // started, never ended: the run died under it
	Attempts  int  // highest attempt number seen
	Starts    int  // op_start records
}

// journalState is a journal read back for --resume and tests.
type journalState struct {
	PlanDigest string
	Ops        map[string]*opRecord
	Ended      bool // a run_end record closes the last run
}

// ReadJournal reads a journal written by Run. A torn last line (the process
// died mid-write) is ignored; it cannot have been acknowledged as durable.
func ReadJournal(path string) (*journalState, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st := &journalState{Ops: map[string]*opRecord{}}
	rec := func(id string) *opRecord {
		r := st.Ops[id]
		if r == nil {
			r = &opRecord{}
			st.Ops[id] = r
		}
		return r
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			continue
		}
		switch ev.Kind {
		case EvRunStart:
			st.PlanDigest = ev.PlanDigest
			st.Ended = false
		case EvRunEnd:
			st.Ended = true
		case EvOpStart:
			r := rec(ev.Op)
			r.Starts++
			r.InFlight = true
			if ev.Attempt > r.Attempts {
				r.Attempts = ev.Attempt
			}
		case EvOpEnd:
			r := rec(ev.Op)
			r.InFlight = false
			if ev.Outcome == OutcomeSucceeded {
				r.Succeeded = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	return st, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}
