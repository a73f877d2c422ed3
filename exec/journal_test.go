package exec

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/planner"
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
		path := filepath.Join(t.TempDir(), "journal.jsonl")
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
		// Opening it for append drops the torn tail.
		j, err := openJournal(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Append(Event{Kind: EvRunStart, PlanDigest: "sha256:cd"}); err != nil {
			t.Fatal(err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		if want := head + `{"time":"0001-01-01T00:00:00Z","kind":"run_start","plan_digest":"sha256:cd"}` + "\n"; string(got) != want {
			t.Errorf("tail %q: after append\n%s\nwant\n%s", tail, got, want)
		}
	}
}
