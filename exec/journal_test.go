package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/store"
)

// TestResumeAfterTornJournal: a run died mid-write, leaving half a record
// at the end of the journal. --resume drops it before appending, so its
// run_start is a record of its own and every line of the journal parses.
func TestResumeAfterTornJournal(t *testing.T) {
	b := newPlan(t, planner.Mode{Name: "m", MaxParallel: 1})
	b.op("a", "a", "", "main", 10).Priority = 2
	bad := b.op("b", "b", "", "main", 10)
	bad.Command.Argv = append(bad.Command.Argv, "1") // fails once
	p := b.build()
	state := t.TempDir()
	res, _ := runPlan(t, p, Options{StateDir: state})
	if len(res.Failed) != 1 {
		t.Fatalf("first run: failed %+v, want b", res.Failed)
	}
	data, err := os.ReadFile(res.Journal)
	if err != nil {
		t.Fatal(err)
	}
	// Tear the last record (run_end) half-way.
	last := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
	torn := data[:last+(len(data)-last)/2]
	if err := os.WriteFile(res.Journal, torn, 0o644); err != nil {
		t.Fatal(err)
	}

	res, _ = runPlan(t, p, Options{StateDir: state, Resume: true})
	if !res.OK() || strings.Join(res.Resumed, ",") != "a" || strings.Join(res.Succeeded, ",") != "b" {
		t.Fatalf("resume: %+v", res)
	}
	data, err = os.ReadFile(res.Journal)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, torn[:last]) {
		t.Errorf("the journal's durable records changed")
	}
	starts := 0
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		var ev Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Errorf("journal line %d does not parse (%v): %s", i+1, err, line)
		}
		if ev.Kind == EvRunStart {
			starts++
		}
	}
	if starts != 2 {
		t.Errorf("%d run_start records, want 2 (the first run and the resume)", starts)
	}
}

// TestReadJournalTornLastLine: a last line without its newline is not a
// record, even when what is there happens to parse.
func TestReadJournalTornLastLine(t *testing.T) {
	head := `{"kind":"run_start","plan_digest":"sha256:ab"}` + "\n" +
		`{"kind":"op_start","op":"x","attempt":1}` + "\n"
	for _, tail := range []string{
		`{"kind":"op_end","op":"x","outc`,
		`{"kind":"op_end","op":"x","outcome":"succeeded"}`,
	} {
		state := t.TempDir()
		runDir := filepath.Join(state, "runs", "ab")
		if err := os.MkdirAll(runDir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(runDir, "journal.jsonl")
		if err := os.WriteFile(path, []byte(head+tail), 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := ReadJournal(path)
		if err != nil {
			t.Fatal(err)
		}
		if r := st.Ops["x"]; r == nil || r.Succeeded || !r.InFlight {
			t.Errorf("tail %q: x = %+v, want in flight (the torn op_end is not a record)", tail, r)
		}
		// Opening it for append (--resume) drops the torn tail.
		d, err := store.OpenDir(state)
		if err != nil {
			t.Fatal(err)
		}
		run, err := d.OpenRun(context.Background(), "sha256:ab", true)
		if err != nil {
			t.Fatal(err)
		}
		j := newJournal(run)
		if err := j.Append(Event{Kind: EvRunStart, PlanDigest: "sha256:cd"}); err != nil {
			t.Fatal(err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		run.Close()
		d.Close()
		got, _ := os.ReadFile(path)
		if want := head + `{"time":"0001-01-01T00:00:00Z","kind":"run_start","plan_digest":"sha256:cd"}` + "\n"; string(got) != want {
			t.Errorf("tail %q: after append\n%s\nwant\n%s", tail, got, want)
		}
	}
}

// TestResumeWarnsOfCorruptRecord: a complete journal line that does not
// parse (damage, not a torn tail) is skipped with a warning naming the
// file and line, which --resume tells the user; a torn last line is still
// dropped without a word.
func TestResumeWarnsOfCorruptRecord(t *testing.T) {
	b := newPlan(t, planner.Mode{Name: "m", MaxParallel: 1})
	b.op("a", "a", "", "main", 10).Priority = 2
	bad := b.op("b", "b", "", "main", 10)
	bad.Command.Argv = append(bad.Command.Argv, "1") // fails once
	p := b.build()
	state := t.TempDir()
	res, _ := runPlan(t, p, Options{StateDir: state})
	data, err := os.ReadFile(res.Journal)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	if len(lines) < 4 {
		t.Fatalf("journal of %d lines", len(lines))
	}
	lines[1] = "{\"kind\":\"op_st\x00garbage\n"        // line 2 damaged
	lines = append(lines, `{"kind":"op_end","op":"a"`) // torn tail: no warning
	if err := os.WriteFile(res.Journal, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := ReadJournal(res.Journal)
	if err != nil {
		t.Fatal(err)
	}
	want := res.Journal + ":2: unreadable journal record skipped"
	if len(st.Warnings) != 1 || !strings.HasPrefix(st.Warnings[0], want) {
		t.Fatalf("warnings %q, want one starting %q", st.Warnings, want)
	}
	res, evs := runPlan(t, p, Options{StateDir: state, Resume: true})
	if !res.OK() {
		t.Fatalf("resume: %+v", res)
	}
	var told []string
	for _, e := range evs {
		if e.Kind == EvWarning {
			told = append(told, e.Message)
		}
	}
	if len(told) != 1 || !strings.HasPrefix(told[0], want) {
		t.Errorf("resume warned %q, want one warning starting %q", told, want)
	}
}

// TestReadJournalWarningsBounded: a journal of garbage gives a bounded
// number of warnings.
func TestReadJournalWarningsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	if err := os.WriteFile(path, bytes.Repeat([]byte("not json\n"), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Warnings) != maxJournalWarnings+1 || !strings.Contains(st.Warnings[maxJournalWarnings], "990 more") {
		t.Errorf("%d warnings, last %q", len(st.Warnings), st.Warnings[len(st.Warnings)-1])
	}
}
