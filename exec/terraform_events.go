package exec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/echelonhq/echelon/planner"
)

// tfEvents reads terraform's -json stream: each message becomes a log line
// (with per-resource durations), resource progress becomes an event, and
// diagnostics are kept to recognise throttling and to name the error.
type tfEvents struct {
	log        io.Writer
	emit       func(Event)
	ops        []*planner.Operation
	buf        []byte
	diag       bytes.Buffer
	firstError string
	started    map[string]time.Time
	mu         sync.Mutex

	// What attribute needs to tell a coalesced step's instances apart.
	applying   bool            // the apply walk began (an apply_start was seen)
	planned    map[string]bool // resources with a planned change
	completed  map[string]bool // apply_complete
	errored    map[string]bool // apply_errored
	opDiag     map[string]*opDiag
	unassigned string           // an error diagnostic no instance's target covers ("" none)
	changes    []ResourceChange // the planned changes, in stream order
}

// opDiag is what the stream said about one instance: its first error and
// the text searched for throttling.
type opDiag struct {
	firstError string
	text       bytes.Buffer
}

type tfMessage struct {
	Level     string    `json:"@level"`
	Message   string    `json:"@message"`
	Timestamp time.Time `json:"@timestamp"`
	Type      string    `json:"type"`
	Change    struct {
		Resource struct {
			Addr string `json:"addr"`
		} `json:"resource"`
		Action string `json:"action"`
	} `json:"change"`
	Hook struct {
		Resource struct {
			Addr string `json:"addr"`
		} `json:"resource"`
		Action         string  `json:"action"`
		ElapsedSeconds float64 `json:"elapsed_seconds"`
		Output         string  `json:"output"`
	} `json:"hook"`
	Diagnostic struct {
		Severity string `json:"severity"`
		Summary  string `json:"summary"`
		Detail   string `json:"detail"`
		Address  string `json:"address"`
	} `json:"diagnostic"`
}

func (e *tfEvents) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.buf = append(e.buf, p...)
	for {
		i := bytes.IndexByte(e.buf, '\n')
		if i < 0 {
			break
		}
		e.line(e.buf[:i])
		e.buf = e.buf[i+1:]
	}
	return len(p), nil
}

func (e *tfEvents) flush() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(bytes.TrimSpace(e.buf)) > 0 {
		e.line(e.buf)
	}
	e.buf = nil
}

func (e *tfEvents) line(b []byte) {
	var m tfMessage
	if err := json.Unmarshal(b, &m); err != nil {
		// Not JSON (a crash message, say): keep it as it is.
		e.log.Write(append(append([]byte(nil), b...), '\n'))
		e.diag.Write(b)
		e.diag.WriteByte('\n')
		return
	}
	now := time.Now()
	msg := m.Message
	switch m.Type {
	case "planned_change":
		switch m.Change.Action {
		case "create", "update", "delete", "replace", "read":
			// Applying it ends in apply_complete or apply_errored.
			e.planned[m.Change.Resource.Addr] = true
			if m.Change.Action != "read" {
				e.changes = append(e.changes, ResourceChange{Address: m.Change.Resource.Addr, Action: m.Change.Action})
			}
		}
	case "apply_start":
		e.applying = true
		e.started[m.Hook.Resource.Addr] = stamp(m.Timestamp, now)
		e.event(now, m.Hook.Resource.Addr, "started")
	case "apply_complete":
		addr := m.Hook.Resource.Addr
		e.completed[addr] = true
		el := e.elapsed(addr, stamp(m.Timestamp, now), m.Hook.ElapsedSeconds)
		e.done(now, addr, m.Hook.Action, el)
	case "apply_errored":
		e.errored[m.Hook.Resource.Addr] = true
		e.event(now, m.Hook.Resource.Addr, "errored")
	case "provision_progress":
		msg = fmt.Sprintf("%s: (local-exec): %s", m.Hook.Resource.Addr, m.Hook.Output)
		// local-exec's first line echoes the command; its text is the
		// user's script, not what an API answered.
		if !strings.HasPrefix(m.Hook.Output, "Executing: ") {
			e.diag.WriteString(m.Hook.Output + "\n")
			if op := e.opFor(m.Hook.Resource.Addr); op != "" {
				e.diagOf(op).text.WriteString(m.Hook.Output + "\n")
			}
		}
	case "diagnostic":
		d := m.Diagnostic
		msg = fmt.Sprintf("%s: %s", d.Severity, d.Summary)
		if d.Address != "" {
			msg += " (" + d.Address + ")"
		}
		if d.Detail != "" {
			msg += "\n  " + strings.ReplaceAll(d.Detail, "\n", "\n  ")
		}
		if d.Severity == "error" {
			throttleText := d.Summary + "\n" + dropCommandEcho(d.Detail) + "\n"
			e.diag.WriteString(throttleText)
			text := d.Summary
			if d.Address != "" {
				text += " (" + d.Address + ")"
			}
			if first, _, _ := strings.Cut(strings.TrimSpace(d.Detail), "\n"); first != "" {
				text += ": " + first
			}
			if e.firstError == "" {
				e.firstError = text
			}
			if op := e.opFor(d.Address); op != "" {
				od := e.diagOf(op)
				od.text.WriteString(throttleText)
				if od.firstError == "" {
					od.firstError = text
				}
			} else if e.unassigned == "" {
				e.unassigned = text
			}
		}
	}
	fmt.Fprintf(e.log, "%s %s\n", now.UTC().Format("15:04:05.000"), msg)
}

// commandEchoRE is the head of local-exec's failure detail, "Error running
// command '<the command>': exit status 1. Output: ...": the command is the
// user's script, searched for throttling it would look throttled whenever
// it mentions 429.
var commandEchoRE = regexp.MustCompile(`(?s)^Error running command '.*?': ((?:exit status [0-9]+|signal: [a-z ]+).*)$`)

// dropCommandEcho removes the echoed command from a diagnostic's detail,
// keeping the exit status and the command's output.
func dropCommandEcho(detail string) string {
	if m := commandEchoRE.FindStringSubmatch(detail); m != nil {
		return "Error running command: " + m[1]
	}
	return detail
}

// stamp is Terraform's own time of a message, or now when it gave none.
func stamp(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// elapsed is a resource's time: from its apply_start to its apply_complete
// by Terraform's own timestamps (to the microsecond), else Terraform's
// elapsed_seconds, which is whole seconds (1.5 s reads 2).
func (e *tfEvents) elapsed(addr string, end time.Time, whole float64) float64 {
	if st, ok := e.started[addr]; ok && !end.Before(st) {
		return end.Sub(st).Seconds()
	}
	return whole
}

// done reports a resource's completion: a durable record (Action and
// Duration set) that calibrate fits resource times from.
func (e *tfEvents) done(now time.Time, addr, action string, elapsed float64) {
	if e.emit == nil {
		return
	}
	if action == "" {
		action = "apply"
	}
	ev := Event{Time: now, Kind: EvResource, Resource: addr, Action: action,
		Duration: math.Round(elapsed*1e6) / 1e6, Message: fmt.Sprintf("complete after %.1fs", elapsed)}
	ev.Op, ev.Ops = e.owners(addr)
	e.emit(ev)
}

func (e *tfEvents) event(now time.Time, addr, msg string) {
	if e.emit == nil {
		return
	}
	ev := Event{Time: now, Kind: EvResource, Resource: addr, Message: msg}
	ev.Op, ev.Ops = e.owners(addr)
	e.emit(ev)
}

// owners is whose a resource event is: the step's one operation, or in a
// coalesced step the instance whose -target covers the resource. A
// resource no target covers (a dependency terraform applies with the
// targets) belongs to no one instance: no op, and ops names the step's
// operations.
func (e *tfEvents) owners(addr string) (op string, ops []string) {
	if len(e.ops) == 1 {
		return e.ops[0].ID, nil
	}
	if op = e.opFor(addr); op != "" {
		return op, nil
	}
	for _, o := range e.ops {
		ops = append(ops, o.ID)
	}
	return "", ops
}

// opFor is the operation whose -target covers a resource address, or "":
// the most specific one when targets nest (module.a and module.a.module.b).
func (e *tfEvents) opFor(addr string) string {
	if addr == "" {
		return ""
	}
	best, bestLen := "", -1
	for _, o := range e.ops {
		if t := o.Terraform.Target; targetCovers(t, addr) && len(t) > bestLen {
			best, bestLen = o.ID, len(t)
		}
	}
	return best
}

// targetCovers reports whether -target=t applies to the resource at addr:
// t itself, an instance of it (t[...]) or something inside it (t.x).
func targetCovers(t, addr string) bool {
	return t != "" && (addr == t || strings.HasPrefix(addr, t+".") || strings.HasPrefix(addr, t+"["))
}

func (e *tfEvents) diagOf(op string) *opDiag {
	d := e.opDiag[op]
	if d == nil {
		d = &opDiag{}
		e.opDiag[op] = d
	}
	return d
}

// attribute tells a failed coalesced apply's instances apart from the -json
// stream: an instance with an error diagnostic or an errored resource under
// its target failed with its own error; one whose planned changes did not
// all complete was cut short by the others' errors; the rest succeeded. It
// returns nil when the stream cannot say: the apply walk never began
// (init or plan failed), an error names no instance's resources, or no
// instance is to blame.
func (e *tfEvents) attribute() *StepError {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.applying || e.unassigned != "" {
		return nil
	}
	se := &StepError{Failed: map[string]*OpError{}}
	blamed := false
	for _, o := range e.ops {
		t := o.Terraform.Target
		if t == "" {
			return nil // the whole configuration: no telling instances apart
		}
		od := e.opDiag[o.ID]
		errAddr := firstCovered(e.errored, t)
		switch {
		case od != nil && od.firstError != "" || errAddr != "":
			msg := errAddr + " errored"
			if od != nil && od.firstError != "" {
				msg = od.firstError
			}
			var err error = errors.New("terraform: " + msg)
			if od != nil {
				if te, ok := detectThrottle(od.text.Bytes()); ok {
					err = fmt.Errorf("terraform: %w", te)
				}
			}
			se.Failed[o.ID] = &OpError{Err: err}
			blamed = true
		default:
			for _, addr := range slices.Sorted(maps.Keys(e.planned)) {
				if targetCovers(t, addr) && !e.completed[addr] {
					se.Failed[o.ID] = &OpError{Blameless: true,
						Err: fmt.Errorf("terraform: %s was not applied: the apply stopped on another instance's error", addr)}
					break
				}
			}
		}
	}
	if !blamed {
		return nil
	}
	return se
}

func firstCovered(set map[string]bool, t string) string {
	for _, addr := range slices.Sorted(maps.Keys(set)) {
		if targetCovers(t, addr) {
			return addr
		}
	}
	return ""
}

// stderrWriter keeps terraform's stderr in the log and in the text searched
// for throttling.
func (e *tfEvents) stderrWriter() io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.diag.Write(p)
		return e.log.Write(p)
	})
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func normalizeJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}
