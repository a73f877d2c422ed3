package exec

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/store"
)

// journal is the append-only JSON-lines record of a run, written to the
// store's Run. Append returns only once the record is durable. Concurrent
// appends share one store write (group commit): with 24 steps in flight a
// burst of records costs one flush (one fsync, or one transaction), which
// keeps the journal from dominating short operations. A step's lock set
// goes through it too (Take, End): the set is taken in the same write as
// the step's start records and let go in the same write as its ends.
type journal struct {
	sink store.Run
	red  *redactor // masks sensitive values in every record

	mu       sync.Mutex
	cond     *sync.Cond
	queue    []store.Entry
	takes    []*takeSlot // the queue's entries' slots (nil: not a take)
	queued   uint64      // sequence of the last entry queued
	durable  uint64      // sequence of the last entry written
	flushing bool
	err      error // sticky write error
	wg       sync.WaitGroup
}

// takeSlot is where a Take learns whether its set was taken.
type takeSlot struct{ held store.Held }

func newJournal(sink store.Run) *journal {
	j := &journal{sink: sink}
	j.cond = sync.NewCond(&j.mu)
	return j
}

// lines marshals events (masked) as JSON lines.
func (j *journal) lines(evs ...Event) ([]byte, error) {
	var b []byte
	for _, ev := range evs {
		line, err := json.Marshal(j.red.event(ev))
		if err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		b = append(append(b, line...), '\n')
	}
	return b, nil
}

// Append writes one event as a JSON line and waits until it is durable.
// Everything appended before it is durable then too.
func (j *journal) Append(ev Event) error {
	b, err := j.lines(ev)
	if err != nil {
		return err
	}
	err = j.commit(store.Entry{Lines: b}, nil, true)
	return err
}

// Take takes a step's lock set and writes its start records in one
// durable write: the set's Held, or the zero Held when another holder is
// in the way (nothing was written).
func (j *journal) Take(set store.LockSet, evs []Event) (store.Held, error) {
	b, err := j.lines(evs...)
	if err != nil {
		return store.Held{}, err
	}
	slot := &takeSlot{}
	err = j.commit(store.Entry{Take: &set, Lines: b}, slot, true)
	return slot.held, err
}

// Dispatch is Take (set nil: no lock set) with the step's task in the
// same durable write: the task's Held, or the zero Held when the set is
// busy.
func (j *journal) Dispatch(set *store.LockSet, evs []Event, task *store.Task) (store.Held, error) {
	b, err := j.lines(evs...)
	if err != nil {
		return store.Held{}, err
	}
	slot := &takeSlot{}
	err = j.commit(store.Entry{Take: set, Lines: b, Task: task}, slot, true)
	return slot.held, err
}

// End queues a step's end records with the release of its lock set (h;
// the zero Held for none), flushed in the background as AppendAsync.
func (j *journal) End(h store.Held, evs []Event) error {
	b, err := j.lines(evs...)
	if err != nil {
		return err
	}
	err = j.commit(store.Entry{Lines: b, Release: h, Async: true}, nil, false)
	return err
}

// AppendAsync queues an event and has it flushed in the background without
// waiting. apply uses it for an operation's end: the slot is free at once,
// and the record is durable before any later Append returns (group commit
// flushes in order), so before a dependent starts. A crash before the flush
// leaves the operation "in flight", and --resume runs it again.
func (j *journal) AppendAsync(ev Event) error {
	b, err := j.lines(ev)
	if err != nil {
		return err
	}
	err = j.commit(store.Entry{Lines: b, Async: true}, nil, false)
	return err
}

// commit queues e; with wait it returns once e is durable, else it has
// it flushed in the background.
func (j *journal) commit(e store.Entry, slot *takeSlot, wait bool) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	j.queueLocked(e, slot)
	mine := j.queued
	if !wait {
		if !j.flushing {
			j.flushing = true // claimed for the goroutine
			j.wg.Add(1)
			go func() {
				defer j.wg.Done()
				j.mu.Lock()
				j.flushing = false
				j.flushLocked()
				j.mu.Unlock()
			}()
		}
		return nil
	}
	for j.durable < mine && j.err == nil {
		if j.flushing {
			j.cond.Wait()
			continue
		}
		j.flushLocked()
	}
	return j.err
}

// queueLocked adds an entry; plain records join the entry before them.
func (j *journal) queueLocked(e store.Entry, slot *takeSlot) {
	j.queued++
	if n := len(j.queue); n > 0 && e.Take == nil && e.Task == nil && !e.Release.Ok() {
		last := &j.queue[n-1]
		if last.Take == nil && last.Task == nil && !last.Release.Ok() {
			last.Lines = append(last.Lines, e.Lines...)
			last.Async = last.Async && e.Async
			return
		}
	}
	j.queue = append(j.queue, e)
	j.takes = append(j.takes, slot)
}

// flushLocked writes everything queued, batch after batch, releasing the
// lock during I/O so more can queue meanwhile.
func (j *journal) flushLocked() {
	for len(j.queue) > 0 && j.err == nil {
		j.flushing = true
		batch, slots, upto := j.queue, j.takes, j.queued
		j.queue, j.takes = nil, nil
		j.mu.Unlock()
		held, werr := j.sink.Commit(context.Background(), batch)
		j.mu.Lock()
		if werr != nil {
			j.err = werr
		} else {
			for i, s := range slots {
				if s != nil && i < len(held) {
					s.held = held[i]
				}
			}
			j.durable = upto
		}
		j.cond.Broadcast()
	}
	j.flushing = false
	j.cond.Broadcast()
}

// Close waits for background flushes. The Run is its owner's to close.
func (j *journal) Close() error {
	j.wg.Wait()
	return nil
}

// opRecord is what a journal says about one operation.
type opRecord struct {
	Succeeded bool
	InFlight  bool      // started, never ended: the run died under it
	Attempts  int       // highest attempt number seen
	Starts    int       // op_start records
	Start     time.Time // the last op_start's time
}

// journalState is a journal read back for --resume and tests.
type journalState struct {
	PlanDigest string
	Ops        map[string]*opRecord
	Ended      bool // a run_end record closes the last run
	// Outputs are the producers' outputs recorded, by operation (the
	// last record of each wins).
	Outputs map[string]map[string]OutputValue
	// Warnings name the complete lines that did not parse (FILE:LINE:
	// why): records lost to damage, so --resume may run again what they
	// said had succeeded.
	Warnings []string
}

// maxJournalLine bounds one journal record: echelon writes none near it
// (an event is a few hundred bytes; an error message is cut), so a longer
// line is damage, skipped without holding it in memory.
const maxJournalLine = 1 << 20

// readJournalLine reads one line up to maxJournalLine bytes; a longer one
// is consumed and reported as long. io.EOF means no complete line is left.
func readJournalLine(br *bufio.Reader) (line []byte, long bool, err error) {
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) <= maxJournalLine {
			line = append(line, frag...)
		} else {
			long, line = true, nil
		}
		switch err {
		case nil:
			return line, long, nil
		case bufio.ErrBufferFull:
			continue
		default:
			return nil, false, err
		}
	}
}

// maxJournalWarnings bounds the warnings of a badly damaged journal.
const maxJournalWarnings = 10

// ReadJournal reads a journal written by Run. A torn last line (the process
// died mid-write) is ignored; it cannot have been acknowledged as durable.
// A complete line that does not parse is skipped with a warning naming it
// (journalState.Warnings).
func ReadJournal(path string) (*journalState, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readJournal(f, path)
}

// readJournal is ReadJournal of a journal read from r; name says where it
// is in warnings.
func readJournal(r io.Reader, path string) (*journalState, error) {
	st := &journalState{Ops: map[string]*opRecord{}}
	rec := func(id string) *opRecord {
		r := st.Ops[id]
		if r == nil {
			r = &opRecord{}
			st.Ops[id] = r
		}
		return r
	}
	bad := 0
	err := eachRecord(r, func(n int, ev *Event, err error) {
		if err != nil {
			if bad++; bad <= maxJournalWarnings {
				st.Warnings = append(st.Warnings, fmt.Sprintf("%s:%d: unreadable journal record skipped (%v); what it recorded is lost", path, n, err))
			}
			return
		}
		switch ev.Kind {
		case EvRunStart:
			st.PlanDigest = ev.PlanDigest
			st.Ended = false
		case EvRunEnd:
			st.Ended = true
		case EvOutputs:
			if st.Outputs == nil {
				st.Outputs = map[string]map[string]OutputValue{}
			}
			st.Outputs[ev.Op] = ev.Outputs
		case EvOpStart:
			r := rec(ev.Op)
			r.Starts++
			r.InFlight = true
			r.Start = ev.Time
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
	})
	if err != nil {
		return nil, err
	}
	if bad > maxJournalWarnings {
		st.Warnings = append(st.Warnings, fmt.Sprintf("%s: %d more unreadable records skipped", path, bad-maxJournalWarnings))
	}
	return st, nil
}

// HasEarlierRun reports whether stateDir holds a run of p (a journal with
// a run_start of this plan) for --resume to continue.
func HasEarlierRun(stateDir string, p *planner.Plan) bool {
	st, err := ReadJournal(filepath.Join(RunDir(stateDir, p), "journal.jsonl"))
	return err == nil && st.PlanDigest != ""
}

// HasEarlierRunIn is HasEarlierRun in a store.
func HasEarlierRunIn(ctx context.Context, s store.Store, p *planner.Plan) bool {
	rc, err := s.Journal(ctx, p.PlanDigest)
	if err != nil {
		return false
	}
	defer rc.Close()
	st, err := readJournal(rc, s.Where())
	return err == nil && st.PlanDigest != ""
}

// RunRecord is a run as its journal tells it: when it started, what it was
// predicted to take (apply records it), how long it took, and each
// operation's last attempt, seconds from the start.
type RunRecord struct {
	Start     time.Time
	Predicted *Predicted
	Duration  float64 // 0: the journal has no run_end (the run died)
	Outcome   string  // run_end's (succeeded, failed); "" without one
	// Resumed: this run continued earlier ones (--resume): the journal
	// holds more than one run_start, and only this run's part is timed.
	Resumed bool
	Timings []Timing
	// Paced is the seconds steps waited for shared api tokens (op_end's
	// paced, once per step), PacedSteps how many steps waited.
	Paced      float64
	PacedSteps int
	// Failures are the operations whose last attempt in this run ended
	// and did not succeed, in Timings order, as their op_end records say
	// (Attempts: that attempt's number).
	Failures []Failure
}

// ReadRun reads the last run of a journal for a report. Damaged lines are
// skipped, as --resume skips them.
func ReadRun(path string) (*RunRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadRunFrom(f, path)
}

// ReadRunFrom is ReadRun of a journal read from r (a store's Journal);
// name says where it is in errors.
func ReadRunFrom(r io.Reader, path string) (*RunRecord, error) {
	var rec *RunRecord
	at := map[string]int{}
	stepOf := map[string]int{}  // an operation's step (op_start), for paced
	pacedStep := map[int]bool{} // steps whose wait is counted
	ends := map[string]Event{}
	err := eachRecord(r, func(_ int, ev *Event, err error) {
		if err != nil {
			return // damage is skipped, as --resume skips it
		}
		if ev.Kind == EvRunStart {
			rec = &RunRecord{Start: ev.Time, Predicted: ev.Predicted, Resumed: rec != nil}
			at, stepOf, pacedStep = map[string]int{}, map[string]int{}, map[int]bool{}
			ends = map[string]Event{}
			return
		}
		if rec == nil {
			return
		}
		off := ev.Time.Sub(rec.Start).Seconds()
		switch ev.Kind {
		case EvOpStart:
			i, ok := at[ev.Op]
			if !ok {
				i = len(rec.Timings)
				at[ev.Op] = i
				rec.Timings = append(rec.Timings, Timing{Op: ev.Op})
			}
			rec.Timings[i].Start, rec.Timings[i].End, rec.Timings[i].Paced = off, off, 0
			stepOf[ev.Op] = ev.Step
			delete(ends, ev.Op)
		case EvOpEnd:
			if i, ok := at[ev.Op]; ok {
				rec.Timings[i].End, rec.Timings[i].OK = off, ev.Outcome == OutcomeSucceeded
				rec.Timings[i].Paced = ev.Paced + ev.Queued
				ends[ev.Op] = *ev
			}
			if s, ok := stepOf[ev.Op]; ev.Paced > 0 && ok && !pacedStep[s] {
				pacedStep[s] = true
				rec.Paced += ev.Paced
				rec.PacedSteps++
			}
		case EvRunEnd:
			rec.Duration, rec.Outcome = ev.Duration, ev.Outcome
		}
	})
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("%s holds no run", path)
	}
	for _, t := range rec.Timings {
		if e, ok := ends[t.Op]; ok && !t.OK {
			rec.Failures = append(rec.Failures, Failure{Op: t.Op, Log: e.Log, Error: e.Error, Attempts: e.Attempt})
		}
	}
	return rec, nil
}

// eachRecord calls f for every whole line of a journal, in order: the
// decoded record, or why the line could not be read (a record longer than
// maxJournalLine, bad JSON). A last line without its newline is torn,
// whatever it holds (Append writes record and newline in one write and
// acknowledges only after the fsync), and is not passed on.
func eachRecord(r io.Reader, f func(n int, ev *Event, err error)) error {
	br := bufio.NewReaderSize(r, 64*1024)
	for n := 1; ; n++ {
		line, long, err := readJournalLine(br)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read journal: %w", err)
		}
		var ev Event
		if long {
			err = fmt.Errorf("a record longer than %d bytes", maxJournalLine)
		} else {
			err = json.Unmarshal(line, &ev)
		}
		f(n, &ev, err)
	}
}

// ReadEvents calls f with every readable record of a journal, in order
// (every run it holds); damaged lines are skipped, as --resume skips them.
func ReadEvents(path string, f func(Event)) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	return ReadEventsFrom(fh, f)
}

// ReadEventsFrom is ReadEvents of a journal read from r (a store's).
func ReadEventsFrom(r io.Reader, f func(Event)) error {
	return eachRecord(r, func(_ int, ev *Event, err error) {
		if err == nil {
			f(*ev)
		}
	})
}
