package planner

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/lang"
)

var update = flag.Bool("update", false, "rewrite golden/ from specs/")

const (
	specsDir  = "../specs"
	goldenDir = "../golden"
)

// exampleSpecs lists the spec directories (or .hcl files) under specs/.
func exampleSpecs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(specsDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".hcl") {
			out = append(out, e.Name())
		}
	}
	if len(out) == 0 {
		t.Fatal("no specs in specs/")
	}
	return out
}

func load(t *testing.T, path string) *lang.Spec {
	t.Helper()
	spec, diags := lang.Load(path, lang.LoadOptions{})
	if diags.HasErrors() {
		var buf bytes.Buffer
		_ = lang.WriteDiagnostics(&buf, diags, nil, false)
		t.Fatalf("loading %s:\n%s%v", path, buf.String(), diags)
	}
	return spec
}

// compileTo compiles every mode of the spec at specPath, returning mode ->
// plan bytes and show text.
func compileTo(t *testing.T, specPath string) (modes []string, plans, texts map[string][]byte) {
	t.Helper()
	spec := load(t, specPath)
	plans, texts = map[string][]byte{}, map[string][]byte{}
	for _, m := range spec.Modes {
		p, diags := Compile(spec, Options{Mode: m.Name})
		if diags.HasErrors() {
			t.Fatalf("%s mode %s: %v", specPath, m.Name, diags)
		}
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var txt bytes.Buffer
		if err := p.WriteText(&txt); err != nil {
			t.Fatal(err)
		}
		modes = append(modes, m.Name)
		plans[m.Name], texts[m.Name] = b, txt.Bytes()
	}
	return modes, plans, texts
}

// TestGolden compiles every spec in specs/ for every mode and compares
// with golden/<spec>/<mode>.plan.json and .plan.txt; -update rewrites them.
func TestGolden(t *testing.T) {
	for _, name := range exampleSpecs(t) {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(goldenDir, strings.TrimSuffix(name, ".hcl"))
			modes, plans, texts := compileTo(t, filepath.Join(specsDir, name))
			for _, m := range modes {
				for _, f := range []struct {
					ext string
					got []byte
				}{{".plan.json", plans[m]}, {".plan.txt", texts[m]}} {
					path := filepath.Join(dir, m+f.ext)
					if *update {
						if err := os.MkdirAll(dir, 0o755); err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(path, f.got, 0o644); err != nil {
							t.Fatal(err)
						}
						continue
					}
					want, err := os.ReadFile(path)
					if err != nil {
						t.Fatalf("%v (run `go test ./planner -run Golden -update`)", err)
					}
					if !bytes.Equal(want, f.got) {
						t.Errorf("%s is stale (run `go test ./planner -run Golden -update` and review):\n%s", path, lineDiff(want, f.got))
					}
				}
				// Golden plans must read back.
				if _, err := Parse(plans[m]); err != nil {
					t.Errorf("%s: %v", m, err)
				}
			}
		})
	}
}

// TestGoldenIdempotent: compiling twice, with the spec files listed in
// another order, or from a copy of the spec elsewhere gives the same bytes.
func TestGoldenIdempotent(t *testing.T) {
	for _, name := range exampleSpecs(t) {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(specsDir, name)
			_, first, _ := compileTo(t, src)
			_, second, _ := compileTo(t, src)

			// A copy at the same place (specs/X) in another repository,
			// compiled from another working directory.
			tmp := t.TempDir()
			if err := os.Mkdir(filepath.Join(tmp, ".git"), 0o755); err != nil {
				t.Fatal(err)
			}
			cp := exec.Command("cp", "-R", src, filepath.Join(tmp, "specs", name))
			if err := os.MkdirAll(filepath.Join(tmp, "specs"), 0o755); err != nil {
				t.Fatal(err)
			}
			if out, err := cp.CombinedOutput(); err != nil {
				t.Fatalf("cp: %v\n%s", err, out)
			}
			var copied map[string][]byte
			t.Run("copy", func(t *testing.T) {
				t.Chdir(filepath.Join(tmp, "specs"))
				_, copied, _ = compileTo(t, name)
			})

			// Files in reverse order: Compile must not depend on it.
			spec := load(t, src)
			for i, j := 0, len(spec.Files)-1; i < j; i, j = i+1, j-1 {
				spec.Files[i], spec.Files[j] = spec.Files[j], spec.Files[i]
			}
			for m, want := range first {
				if !bytes.Equal(want, second[m]) {
					t.Errorf("%s: second compile differs:\n%s", m, lineDiff(want, second[m]))
				}
				if !bytes.Equal(want, copied[m]) {
					t.Errorf("%s: compile of a copy differs:\n%s", m, lineDiff(want, copied[m]))
				}
				p, diags := Compile(spec, Options{Mode: m})
				if diags.HasErrors() {
					t.Fatal(diags)
				}
				b, _ := p.Marshal()
				if !bytes.Equal(want, b) {
					t.Errorf("%s: files in another order differ:\n%s", m, lineDiff(want, b))
				}
			}
		})
	}
}

// lineDiff shows the first differing lines with context: enough to see
// what changed without a diff dependency.
func lineDiff(want, got []byte) string {
	w := strings.Split(string(want), "\n")
	g := strings.Split(string(got), "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	var b strings.Builder
	from := max(0, i-2)
	for k := from; k < i; k++ {
		b.WriteString("    " + w[k] + "\n")
	}
	for k := i; k < min(len(w), i+8); k++ {
		b.WriteString("  - " + w[k] + "\n")
	}
	for k := i; k < min(len(g), i+8); k++ {
		b.WriteString("  + " + g[k] + "\n")
	}
	b.WriteString("  (first difference at line " + strconv.Itoa(i+1) + ")\n")
	return b.String()
}

// TestBesuPlanShape holds the flagship plan to what its spec says: 24
// regions, two validators each, the contracts alone, phases in order.
func TestBesuPlanShape(t *testing.T) {
	spec := load(t, filepath.Join(specsDir, "besu-network"))
	for _, m := range spec.Modes {
		p, diags := Compile(spec, Options{Mode: m.Name})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		count := map[string]int{}
		regionSet := map[string]bool{}
		for _, o := range p.Operations {
			count[o.Component]++
			if o.Component == "besu" {
				regionSet[o.Region] = true
				if want := "besu/" + o.Region + "/" + strconv.Itoa(o.Replica); o.ID != want || o.Replica > 1 {
					t.Errorf("%s: validator %s, want IDs besu/REGION/0 and /1", m.Name, o.ID)
				}
			}
			if o.Component == "contracts" && (o.Alone != "parallel = false" || len(o.DependsOn) != 48) {
				t.Errorf("%s: contracts alone=%q after %d validators", m.Name, o.Alone, len(o.DependsOn))
			}
		}
		want := map[string]int{"infrastructure": 24, "kubernetes": 24, "besu": 48, "contracts": 1, "monitoring": 24}
		if fmt.Sprint(count) != fmt.Sprint(want) || len(regionSet) != 24 {
			t.Errorf("%s: operations per component %v in %d regions, want %v in 24", m.Name, count, len(regionSet), want)
		}
		for _, b := range p.Batches {
			if slices.Contains(b.Operations, "contracts") && len(b.Operations) != 1 {
				t.Errorf("%s: contracts shares batch %d", m.Name, b.Index)
			}
		}
		if m.PhaseBarrier {
			var order []string
			for _, b := range p.Batches {
				order = append(order, b.Phase)
			}
			if got := strings.Join(order, ","); got != "infrastructure,kubernetes,besu,contracts,monitoring" {
				t.Errorf("%s: batch phases %s", m.Name, got)
			}
		}
	}
}
