package lang

import "testing"

// BenchmarkLoadBesu measures loading the flagship spec (24 regions, 121
// instances): validation runs on every command.
func BenchmarkLoadBesu(b *testing.B) {
	for b.Loop() {
		if _, diags := Load("../specs/besu-network", LoadOptions{}); diags.HasErrors() {
			b.Fatal(diags)
		}
	}
}
