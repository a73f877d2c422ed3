package lang

import (
	"fmt"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// terraformBinary decodes a terraform block's binary: "terraform" (the
// default, kept as "") or "tofu". A path or another program is refused: a
// plan names what runs, not where it is installed on one machine (exec
// finds it: ECHELON_TERRAFORM or ECHELON_TOFU, else PATH).
func (l *loader) terraformBinary(val cty.Value, rng hcl.Range, t *Terraform) {
	s, ok := l.toString(val, rng, "binary")
	if !ok {
		return
	}
	t.binaryAt = rng.Ptr()
	switch s {
	case DriverTerraform:
		t.Binary = ""
	case BinaryTofu:
		t.Binary = BinaryTofu
	default:
		l.errorf(rng.Ptr(), "Invalid terraform binary",
			"binary is \"terraform\" or \"tofu\" (OpenTofu), not %q: echelon finds the program itself (ECHELON_TERRAFORM or ECHELON_TOFU, else PATH), so a plan never holds one machine's path.%s", s, didYouMean(s, binaries))
	}
}

// binaryName is the program a terraform block runs.
func binaryName(t *Terraform) string {
	if t.Binary == "" {
		return DriverTerraform
	}
	return t.Binary
}

// checkTerraformBinaries refuses a terraform directory run by terraform in
// one instance and by tofu in another: they would share its .terraform,
// its dependency lock file (whose provider addresses differ between the
// two registries) and its states, and the instances of a state run as one
// process, of one binary.
func (l *loader) checkTerraformBinaries() {
	type use struct {
		inst *Instance
		comp string
	}
	first := map[string]use{}
	reported := map[string]bool{}
	for _, c := range l.spec.Components {
		for _, inst := range c.Instances {
			t := inst.Terraform
			if t == nil {
				continue
			}
			dir := filepath.Clean(t.Dir)
			prev, ok := first[dir]
			if !ok {
				first[dir] = use{inst, c.Name}
				continue
			}
			pt := prev.inst.Terraform
			if pt.Binary == t.Binary || reported[dir] {
				continue
			}
			reported[dir] = true // one error per directory
			at := t.binaryAt
			if at == nil {
				at = pt.binaryAt
			}
			if at == nil {
				at = c.DeclRange.Ptr()
			}
			l.errorf(at, "One terraform directory, two binaries",
				"The directory %q is run by %s in %s and by %s in %s: a directory's .terraform, dependency lock file and states belong to one of them. Give both the same binary, or use separate directories.",
				t.Dir, binaryName(pt), instanceName(prev.comp, prev.inst), binaryName(t), instanceName(c.Name, inst))
		}
	}
}

// instanceName is how a diagnostic names an instance: component "x", or
// component "x" in region "eu".
func instanceName(comp string, inst *Instance) string {
	if inst.Region == "" {
		return fmt.Sprintf("component %q", comp)
	}
	return fmt.Sprintf("component %q (region %q)", comp, inst.Region)
}
