package sim

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
)

var update = flag.Bool("update", false, "rewrite golden/<spec>/simulate.{txt,json}")

// Golden runs are `echelon simulate SPEC --mode all --trials 2000 --seed 1
// --check`.
const goldenTrials, goldenSeed = 2000, 1

// specPlans loads specs/<name> and compiles every mode, in declaration
// order.
func specPlans(t testing.TB, name string) (*lang.Spec, []*planner.Plan) {
	t.Helper()
	dir := filepath.Join("..", "specs", name)
	spec, diags := lang.Load(dir, lang.LoadOptions{Environ: []string{}})
	if diags.HasErrors() {
		t.Fatalf("load %s: %s", dir, diags.Error())
	}
	var plans []*planner.Plan
	for _, m := range spec.Modes {
		p, diags := planner.Compile(spec, planner.Options{Mode: m.Name})
		if diags.HasErrors() {
			t.Fatalf("compile %s --mode %s: %s", dir, m.Name, diags.Error())
		}
		plans = append(plans, p)
	}
	return spec, plans
}

func specNames(t *testing.T) []string {
	entries, err := os.ReadDir(filepath.Join("..", "specs"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		t.Fatal("no specs under specs/")
	}
	return names
}

// TestGolden compares the mode comparison of every spec with
// golden/<spec>/simulate.txt and .json; -update rewrites them.
func TestGolden(t *testing.T) {
	for _, name := range specNames(t) {
		t.Run(name, func(t *testing.T) {
			spec, plans := specPlans(t, name)
			var results []*Result
			for _, p := range plans {
				r, err := Simulate(p, Options{Trials: goldenTrials, Seed: goldenSeed, Recommend: true})
				if err != nil {
					t.Fatal(err)
				}
				results = append(results, r)
			}
			checks := CheckBudgets(plans[0].Budgets, results)
			var txt, js bytes.Buffer
			if err := WriteText(&txt, spec.Deployment.Name, results, checks); err != nil {
				t.Fatal(err)
			}
			if err := WriteJSON(&js, spec.Deployment.Name, results, checks); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("..", "golden", name)
			for file, got := range map[string][]byte{"simulate.txt": txt.Bytes(), "simulate.json": js.Bytes()} {
				path := filepath.Join(dir, file)
				if *update {
					if err := os.MkdirAll(dir, 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./sim -run Golden -update)", err)
				}
				if diff := cmp.Diff(string(want), string(got)); diff != "" {
					t.Errorf("%s differs (-want +got):\n%s", path, diff)
				}
			}
		})
	}
}
