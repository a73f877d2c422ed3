package planner

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// Verify accepts what compile wrote (every example spec and mode, deploy
// and destroy) after a round trip through the file format.
func TestVerifyAcceptsCompiledPlans(t *testing.T) {
	for _, name := range exampleSpecs(t) {
		spec := load(t, filepath.Join(specsDir, name))
		for _, m := range spec.Modes {
			for _, destroy := range []bool{false, true} {
				p, diags := Compile(spec, Options{Mode: m.Name, Destroy: destroy})
				if diags.HasErrors() {
					t.Fatalf("%s %s: %v", name, m.Name, diags)
				}
				p.Spec.Path = "../specs/" + name
				b, err := p.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				read, err := Parse(b)
				if err != nil {
					t.Fatal(err)
				}
				if err := Verify(read, spec); err != nil {
					t.Errorf("%s %s destroy=%v: %v", name, m.Name, destroy, err)
				}
			}
		}
	}
}

// A plan edited by hand and given a recomputed plan_digest is refused,
// naming the first difference (review #9: the tampered hello plans).
func TestVerifyRefusesTamperedPlans(t *testing.T) {
	spec := load(t, filepath.Join(specsDir, "hello"))
	for _, tc := range []struct {
		name string
		edit func(p *Plan)
		want string
	}{
		{"selfdep", func(p *Plan) { p.Operations[0].DependsOn = append(p.Operations[0].DependsOn, p.Operations[0].ID) }, `operation "done": depends_on`},
		{"nullops", func(p *Plan) { p.Operations = nil }, `operation "done" is missing`},
		{"action", func(p *Plan) { p.Action = "explode" }, `action: plan has "explode"`},
		{"negdur", func(p *Plan) { p.Operations[1].Duration.P50 = -5 }, `operation "hello/asia": duration`},
		{"hugedur", func(p *Plan) { p.Operations[2].Duration.P90 = 1e308 }, `operation "hello/eu": duration`},
		{"negmax", func(p *Plan) { p.Mode.MaxParallel = -5 }, "mode:"},
		{"badbatchop", func(p *Plan) { p.Batches[0].Operations = append(p.Batches[0].Operations, "ghost") }, "batch 0: operations"},
		{"extrabatch", func(p *Plan) { p.Batches = append(p.Batches, Batch{Index: 9}) }, "batch 2 is not in the spec's plan"},
		{"dupid", func(p *Plan) { p.Operations = append(p.Operations, p.Operations[0]) }, `operation "done" appears twice`},
		{"argv", func(p *Plan) { p.Operations[0].Command.Argv = []string{"rm", "-rf", "/"} }, `operation "done": command`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, diags := Compile(spec, Options{Mode: "fast"})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			tc.edit(p)
			b, err := p.Marshal() // recomputes plan_digest, as the reviewer did
			if err != nil {
				t.Fatal(err)
			}
			read, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			err = Verify(read, spec)
			var me *MismatchError
			if !errors.As(err, &me) {
				t.Fatalf("got %v, want a MismatchError", err)
			}
			if !strings.Contains(err.Error(), "edited by hand?") || !strings.Contains(me.First, tc.want) {
				t.Errorf("got %q, want the first difference to contain %q", err, tc.want)
			}
		})
	}
}

func TestSameBytes(t *testing.T) {
	for _, tc := range []struct {
		a, b []string
		want bool
	}{
		{[]string{"ab", "cd"}, []string{"a", "bcd"}, true},
		{[]string{"", "abcd", ""}, []string{"abc", "", "d"}, true},
		{nil, []string{"", ""}, true},
		{[]string{"ab", "cd"}, []string{"abc"}, false},
		{[]string{"abc"}, []string{"ab", "cd"}, false},
		{[]string{"ab", "cd"}, []string{"ab", "ce"}, false},
	} {
		var a, b [][]byte
		for _, s := range tc.a {
			a = append(a, []byte(s))
		}
		for _, s := range tc.b {
			b = append(b, []byte(s))
		}
		if got := sameBytes(a, b); got != tc.want {
			t.Errorf("sameBytes(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}
