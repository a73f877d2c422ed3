package lang

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSensitiveStrings: driver settings flattened to Go strings lose their
// cty marks; Sensitive records which ones derived from a sensitive value,
// however derived (function, interpolation, whole-marked list or map), per
// instance.
func TestSensitiveStrings(t *testing.T) {
	dir := writeSpec(t, map[string]string{"s.hcl": skeleton + `
variable "token" {
  type      = string
  sensitive = true
}
component "c" {
  phase   = "p"
  regions = ["a", "b"]
  command {
    argv = ["x", "--pw=${upper(var.token)}", each.region, { a = lower(var.token), b = "plain" }[each.region]]
    env  = { L = lower(var.token), F = format("x-%s", var.token), P = "plain" }
  }
}
component "l" {
  phase = "p"
  command {
    argv = concat(["x"], [lower(var.token)])
    env  = sensitive({ A = "a", B = "b" })
  }
}
component "w" {
  phase = "p"
  command {
    argv = sensitive(["x", "y"])
  }
}
component "k" {
  phase = "p"
  kubectl {
    manifests = ["m.yaml"]
    context   = format("ctx-%s", lower(var.token))
    namespace = "plain"
  }
}
component "h" {
  phase = "p"
  helm {
    release   = "r"
    chart     = "./chart"
    context   = "plain"
    namespace = upper(var.token)
  }
}
component "none" {
  phase = "p"
  command {
    argv = ["x", each.replica == 0 ? "a" : "b"]
    env  = { A = "a" }
  }
}
`, "m.yaml": "kind: ConfigMap\n"})
	s := mustLoad(t, dir, LoadOptions{Vars: []string{"token=Sekr3tVal"}})
	set := func(keys ...string) map[string]bool {
		m := map[string]bool{}
		for _, k := range keys {
			m[k] = true
		}
		return m
	}
	c := s.Component("c").Instances
	// Instance b's argv.3 is "plain": the map decoded once (env) is shared,
	// instance a's argv keys must not leak into it.
	for i, want := range []map[string]bool{
		set("argv.1", "argv.3", "env.L", "env.F"),
		set("argv.1", "env.L", "env.F"),
	} {
		if diff := cmp.Diff(want, c[i].Command.Sensitive); diff != "" {
			t.Errorf("c[%s] Sensitive (-want +got):\n%s", c[i].Region, diff)
		}
	}
	if got := c[0].Command.Argv[3]; got != "sekr3tval" {
		t.Errorf("c[a] argv.3 = %q: the spec keeps the real value", got)
	}
	for name, want := range map[string]map[string]bool{
		"l": set("argv.1", "env.A", "env.B"),
		"w": set("argv.0", "argv.1"),
	} {
		if diff := cmp.Diff(want, s.Component(name).Instances[0].Command.Sensitive); diff != "" {
			t.Errorf("%s Sensitive (-want +got):\n%s", name, diff)
		}
	}
	if diff := cmp.Diff(set("context"), s.Component("k").Instances[0].Kubectl.Sensitive); diff != "" {
		t.Errorf("kubectl Sensitive (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(set("namespace"), s.Component("h").Instances[0].Helm.Sensitive); diff != "" {
		t.Errorf("helm Sensitive (-want +got):\n%s", diff)
	}
	if got := s.Component("none").Instances[0].Command.Sensitive; len(got) != 0 {
		t.Errorf("nothing sensitive, got %v", got)
	}
}
