package specgen

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/echelonhq/echelon/lang"
	"github.com/zclconf/go-cty/cty"
)

// Regions are the 24 regions of every regional component.
var Regions = func() []string {
	r := make([]string, 24)
	for i := range r {
		r[i] = fmt.Sprintf("r%02d", i)
	}
	return r
}()

var phases = []string{"infra", "platform", "data", "apps", "edge"}

type comp struct {
	name     string
	phase    string
	regional bool
	replicas int
	deps     []int
	alone    bool
	tf       bool
	durSec   int
}

// shape lays out components until they expand to at least n operations.
func shape(n int) []comp {
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	var cs []comp
	ops := 0
	for i := 0; ops < n; i++ {
		c := comp{name: fmt.Sprintf("c%06d", i), regional: i%25 != 24, replicas: 1, alone: i%40 == 39, tf: i%10 == 0,
			durSec: 30 + rng.IntN(600)}
		if c.regional && i%7 == 3 {
			c.replicas = 2
		}
		// Phases in blocks so dependencies point backwards in phase order.
		c.phase = phases[min(len(phases)-1, i*len(phases)/max(1, n/24+1))]
		if i > 0 {
			for k := 0; k < 1+rng.IntN(3); k++ {
				d := i - 1 - rng.IntN(min(i, 50))
				if !contains(c.deps, d) { // d < i: never a later phase
					c.deps = append(c.deps, d)
				}
			}
		}
		if c.regional {
			ops += len(Regions) * c.replicas
		} else {
			ops++
		}
		cs = append(cs, c)
	}
	return cs
}

func contains(s []int, x int) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// Spec builds the spec in memory, as lang.Load would (dir is Spec.Dir).
func Spec(n int, dir string) *lang.Spec {
	cs := shape(n)
	s := &lang.Spec{Path: dir, Dir: dir, Deployment: &lang.Deployment{Name: "generated", DefaultMode: "fast"},
		Modes: []*lang.Mode{{Name: "fast", PhaseBarrier: true, TerraformParallelism: 20}}}
	for i, p := range phases {
		ph := &lang.Phase{Name: p}
		if i > 0 {
			ph.After = []lang.Ref{{Name: phases[i-1]}}
		}
		s.Phases = append(s.Phases, ph)
	}
	for _, c := range cs {
		lc := &lang.Component{Name: c.name, Phase: c.phase, Replicas: c.replicas, Parallel: !c.alone, Driver: lang.DriverCommand}
		if c.tf {
			lc.Driver = lang.DriverTerraform
		}
		if c.regional {
			lc.Regions = Regions
		}
		for _, d := range c.deps {
			lc.DependsOn = append(lc.DependsOn, lang.Ref{Name: cs[d].name})
		}
		rs := lc.Regions
		if len(rs) == 0 {
			rs = []string{""}
		}
		d := time.Duration(c.durSec) * time.Second
		for _, r := range rs {
			for i := 0; i < c.replicas; i++ {
				in := &lang.Instance{Region: r, Replica: i, Duration: lang.Duration{P50: d, P90: time.Duration(c.durSec*3/2) * time.Second}, OnError: lang.OnErrorStop,
					Calls: map[string]int{}}
				if c.tf {
					in.Terraform = &lang.Terraform{Dir: "tf", Target: fmt.Sprintf("module.m[%q]", r), Vars: map[string]cty.Value{"region": cty.StringVal(r)}}
				} else {
					in.Command = &lang.Command{Argv: []string{"deploy", c.name, r}, Env: map[string]string{}}
				}
				lc.Instances = append(lc.Instances, in)
			}
		}
		s.Components = append(s.Components, lc)
	}
	return s
}

// HCL is the same spec as text; the terraform dir "tf" must exist next to
// it for Load (WriteDir creates it).
func HCL(n int) string {
	cs := shape(n)
	var b strings.Builder
	b.WriteString("deployment \"generated\" {\n  default_mode = \"fast\"\n}\n\n")
	b.WriteString("mode \"fast\" {\n  phase_barrier         = true\n  terraform_parallelism = 20\n}\n\n")
	for i, p := range phases {
		fmt.Fprintf(&b, "phase %q {", p)
		if i > 0 {
			fmt.Fprintf(&b, "\n  after = [phase.%s]\n", phases[i-1])
		}
		b.WriteString("}\n\n")
	}
	b.WriteString("locals {\n  regions = [")
	for i, r := range Regions {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", r)
	}
	b.WriteString("]\n}\n\n")
	for _, c := range cs {
		fmt.Fprintf(&b, "component %q {\n  phase    = %q\n", c.name, c.phase)
		if c.tf {
			b.WriteString("  driver   = \"terraform\"\n")
		} else {
			b.WriteString("  driver   = \"command\"\n")
		}
		if c.regional {
			b.WriteString("  regions  = local.regions\n")
		}
		if c.replicas > 1 {
			fmt.Fprintf(&b, "  replicas = %d\n", c.replicas)
		}
		if c.alone {
			b.WriteString("  parallel = false\n")
		}
		if len(c.deps) > 0 {
			b.WriteString("  depends_on = [")
			for k, d := range c.deps {
				if k > 0 {
					b.WriteString(", ")
				}
				b.WriteString("component." + cs[d].name)
			}
			b.WriteString("]\n")
		}
		fmt.Fprintf(&b, "  duration = { p50 = \"%ds\", p90 = \"%ds\" }\n", c.durSec, c.durSec*3/2)
		region := `""`
		if c.regional {
			region = "each.region"
		}
		if c.tf {
			fmt.Fprintf(&b, "  terraform {\n    dir    = \"tf\"\n    target = \"module.m[\\\"${%s}\\\"]\"\n    vars   = { region = %s }\n  }\n", region, region)
		} else {
			fmt.Fprintf(&b, "  command {\n    argv = [\"deploy\", %q, %s]\n  }\n", c.name, region)
		}
		b.WriteString("}\n\n")
	}
	return b.String()
}

// WriteDir writes spec.hcl and tf/main.tf into dir.
func WriteDir(dir string, n int) error {
	if err := os.MkdirAll(filepath.Join(dir, "tf"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tf", "main.tf"), []byte("variable \"region\" {}\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "spec.hcl"), []byte(HCL(n)), 0o644)
}

// flatDeps is the dependency shape of the flat comparison: item i depends
// on up to 3 of the 50 items before it (seeded).
func flatDeps(n int) [][]int {
	rng := rand.New(rand.NewPCG(2, uint64(n)))
	deps := make([][]int, n)
	for i := 1; i < n; i++ {
		for k := 0; k < 1+rng.IntN(3); k++ {
			if d := i - 1 - rng.IntN(min(i, 50)); !contains(deps[i], d) {
				deps[i] = append(deps[i], d)
			}
		}
	}
	return deps
}

// WriteFlat writes the same flat graph of n items twice, for comparing
// with `terraform graph`: dir/spec.hcl, n non-regional components, and
// dir/tf/main.tf, n terraform_data resources (built in: no provider to
// download) with the same depends_on.
func WriteFlat(dir string, n int) error {
	deps := flatDeps(n)
	var spec, tf strings.Builder
	spec.WriteString("deployment \"flat\" {}\n\nphase \"p\" {}\n\nmode \"m\" {}\n\n")
	for i := 0; i < n; i++ {
		// duration: the 1m the planner assumes anyway, said, so that
		// compile prints no warning per component.
		fmt.Fprintf(&spec, "component \"c%d\" {\n  phase    = \"p\"\n  driver   = \"command\"\n  duration = \"1m\"\n", i)
		fmt.Fprintf(&tf, "resource \"terraform_data\" \"c%d\" {\n  input = %d\n", i, i)
		if len(deps[i]) > 0 {
			refs := make([]string, len(deps[i]))
			for k, d := range deps[i] {
				refs[k] = fmt.Sprintf("component.c%d", d)
			}
			fmt.Fprintf(&spec, "  depends_on = [%s]\n", strings.Join(refs, ", "))
			for k, d := range deps[i] {
				refs[k] = fmt.Sprintf("terraform_data.c%d", d)
			}
			fmt.Fprintf(&tf, "  depends_on = [%s]\n", strings.Join(refs, ", "))
		}
		spec.WriteString("  command {\n    argv = [\"true\"]\n  }\n}\n\n")
		tf.WriteString("}\n\n")
	}
	if err := os.MkdirAll(filepath.Join(dir, "tf"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tf", "main.tf"), []byte(tf.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "spec.hcl"), []byte(spec.String()), 0o644)
}
