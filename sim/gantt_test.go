package sim

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

// TestGantt draws a throttled run and checks the SVG: well-formed, one bar
// per operation, sub-lanes where a region's operations overlap, hatching
// where an operation waited after a 429. SIM_GANTT_OUT=FILE keeps the SVG
// for a look.
func TestGantt(t *testing.T) {
	var ops []planner.Operation
	for _, r := range []string{"eu", "us", "ap"} {
		a := regional(fixed("app/"+r+"/0", 60), "app", r, 0)
		b := regional(fixed("app/"+r+"/1", 60), "app", r, 1)
		a.Calls = map[string]int{"arm": 200}
		b.Phase, a.Phase = "deploy", "deploy"
		ops = append(ops, a, b)
	}
	g := fixed("global", 30, "app/eu/0", "app/us/0", "app/ap/0")
	g.Phase = "finish"
	ops = append(ops, g)
	p := withAPI(mkPlan(planner.Mode{}, ops...), 5, 50, 1, 8)
	run, err := Trace(p, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	waits := 0
	for _, sp := range run.Spans {
		waits += len(sp.Waits)
	}
	if waits == 0 {
		t.Fatal("the run should be throttled")
	}
	var buf bytes.Buffer
	if err := WriteGantt(&buf, "test <gantt>", run); err != nil {
		t.Fatal(err)
	}
	if out := os.Getenv("SIM_GANTT_OUT"); out != "" {
		if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bars, hatches, labels := 0, 0, map[string]bool{}
	dec := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
	var inText bool
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			inText = el.Name.Local == "text"
			if el.Name.Local == "title" {
				bars++
			}
			for _, a := range el.Attr {
				if a.Name.Local == "fill" && a.Value == "url(#hatch)" {
					hatches++
				}
			}
		case xml.CharData:
			if inText {
				labels[strings.TrimSpace(string(el))] = true
			}
		case xml.EndElement:
			inText = false
		}
	}
	if bars != len(ops) {
		t.Errorf("%d bars, want one per operation (%d)", bars, len(ops))
	}
	if hatches < 2 { // the legend's swatch and at least one wait
		t.Errorf("no throttling drawn (%d hatched shapes)", hatches)
	}
	for _, want := range []string{"eu", "us", "ap", globalLane, "deploy", "finish", "test <gantt>"} {
		if !labels[want] {
			t.Errorf("label %q missing", want)
		}
	}
	// Two replicas overlap in each region: each region lane has two rows.
	if n := strings.Count(buf.String(), `height="14" fill="#0072B2"`); n != 6 {
		t.Errorf("%d deploy bars, want 6", n)
	}
}
