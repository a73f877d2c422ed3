package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkLoadBesu measures loading the flagship spec (24 regions, 121
// instances): validation runs on every command.
func BenchmarkLoadBesu(b *testing.B) {
	for b.Loop() {
		if _, diags := Load("../specs/besu-network", LoadOptions{}); diags.HasErrors() {
			b.Fatal(diags)
		}
	}
}

// BenchmarkLoadLarge loads specs of about 10k and 100k instances shaped
// like planner/internal/specgen's (which lang cannot import): regional
// components of 24 regions, each-free durations, argv mixing constants
// and each.region, every 10th a terraform component with a per-region
// target and vars. It is where per-instance evaluation costs show.
func BenchmarkLoadLarge(b *testing.B) {
	for _, comps := range []int{420, 4200} {
		dir := b.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "spec.hcl"), []byte(largeSpec(comps)), 0o644); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("instances=%d", comps*24), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, diags := Load(dir, LoadOptions{}); diags.HasErrors() {
					b.Fatal(diags)
				}
			}
		})
	}
}

func largeSpec(comps int) string {
	var sb strings.Builder
	sb.WriteString("deployment \"large\" {}\nphase \"p\" {}\nmode \"m\" {}\n\nlocals {\n  regions = [")
	for r := 0; r < 24; r++ {
		if r > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "\"r%02d\"", r)
	}
	sb.WriteString("]\n}\n\n")
	for i := 0; i < comps; i++ {
		fmt.Fprintf(&sb, "component \"c%05d\" {\n  phase   = \"p\"\n  regions = local.regions\n", i)
		if i > 0 {
			fmt.Fprintf(&sb, "  depends_on = [component.c%05d]\n", i-1)
		}
		fmt.Fprintf(&sb, "  duration = { p50 = \"%ds\", p90 = \"%ds\" }\n", 30+i%600, 45+i%600)
		if i%10 == 0 {
			sb.WriteString("  terraform {\n    dir    = \"tf\"\n    target = \"module.m[\\\"${each.region}\\\"]\"\n    vars   = { region = each.region }\n  }\n}\n\n")
		} else {
			fmt.Fprintf(&sb, "  command {\n    argv = [\"deploy\", \"c%05d\", each.region]\n  }\n}\n\n", i)
		}
	}
	return sb.String()
}
