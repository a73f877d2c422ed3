package views

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// The human view shows warnings on stderr; the JSON view shows nothing for
// warnings alone (they would precede the command's JSON on stdout) and
// every diagnostic once there is an error, on stdout.
func TestDiagnosticsViews(t *testing.T) {
	warn := hcl.Diagnostics{{Severity: hcl.DiagWarning, Summary: "Unused api", Detail: "No component calls it."}}
	bad := append(warn, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cycle", Detail: "a -> b -> a"})

	var out, errOut bytes.Buffer
	h := NewDiagnostics(false, &out, &errOut)
	if err := h.Diagnostics(warn, nil); err != nil {
		t.Fatal(err)
	}
	h.Advice("run this next")
	if out.Len() != 0 || !strings.Contains(errOut.String(), "warning: Unused api") || !strings.HasSuffix(errOut.String(), "run this next\n") {
		t.Errorf("human: stdout %q, stderr %q", out.String(), errOut.String())
	}
	if h.Refused("Stale plan", errors.New("recompile")) {
		t.Error("the human view showed a refusal: main prints the error")
	}

	out.Reset()
	errOut.Reset()
	j := NewDiagnostics(true, &out, &errOut)
	if err := j.Diagnostics(warn, nil); err != nil {
		t.Fatal(err)
	}
	j.Advice("run this next")
	if out.Len() != 0 || errOut.Len() != 0 {
		t.Errorf("JSON view wrote warnings alone: stdout %q, stderr %q", out.String(), errOut.String())
	}
	if err := j.Diagnostics(bad, nil); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Valid       bool `json:"valid"`
		Diagnostics []struct {
			Summary string `json:"summary"`
			Detail  string `json:"detail"`
		} `json:"diagnostics"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Valid || len(rep.Diagnostics) != 2 || rep.Diagnostics[1].Detail != "a -> b -> a" {
		t.Errorf("JSON diagnostics %+v (%v):\n%s", rep, err, out.String())
	}
	out.Reset()
	if !j.Refused("Stale plan", errors.New("recompile")) || !strings.Contains(out.String(), `"summary": "Stale plan"`) {
		t.Errorf("JSON refusal:\n%s", out.String())
	}
}
