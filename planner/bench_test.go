package planner

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	dgraph "github.com/dominikbraun/graph"
	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner/internal/specgen"
)

var benchSizes = []int{1000, 10000, 100000}

// BenchmarkCompile times Compile alone on generated in-memory specs.
func BenchmarkCompile(b *testing.B) {
	for _, n := range benchSizes {
		dir := b.TempDir()
		if err := specgen.WriteDir(dir, n); err != nil {
			b.Fatal(err)
		}
		spec := specgen.Spec(n, dir)
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, diags := Compile(spec, Options{}); diags.HasErrors() {
					b.Fatal(diags)
				}
			}
		})
	}
}

// BenchmarkMarshal times writing the compiled plan (digest included).
func BenchmarkMarshal(b *testing.B) {
	for _, n := range benchSizes {
		dir := b.TempDir()
		if err := specgen.WriteDir(dir, n); err != nil {
			b.Fatal(err)
		}
		p, diags := Compile(specgen.Spec(n, dir), Options{})
		if diags.HasErrors() {
			b.Fatal(diags)
		}
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Marshal(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoadCompile times lang.Load + Compile + Marshal on the same
// specs written as HCL: what `echelon compile` does.
func BenchmarkLoadCompile(b *testing.B) {
	for _, n := range benchSizes {
		dir := b.TempDir()
		if err := specgen.WriteDir(dir, n); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				spec, diags := lang.Load(dir, lang.LoadOptions{})
				if diags.HasErrors() {
					b.Fatal(diags)
				}
				p, diags := Compile(spec, Options{})
				if diags.HasErrors() {
					b.Fatal(diags)
				}
				if _, err := p.Marshal(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestGeneratedSpecMatchesHCL keeps the two generator outputs the same
// spec: the in-memory one and the loaded HCL compile to the same plan.
func TestGeneratedSpecMatchesHCL(t *testing.T) {
	dir := t.TempDir()
	if err := specgen.WriteDir(dir, 500); err != nil {
		t.Fatal(err)
	}
	loaded, diags := lang.Load(dir, lang.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	a, diags := Compile(loaded, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	b, _ := Compile(specgen.Spec(500, dir), Options{})
	a.Spec, b.Spec = SpecRef{}, SpecRef{}
	a.SpecDigest, b.SpecDigest = "", ""
	ja, _ := a.Marshal()
	jb, _ := b.Marshal()
	// Skip the header lines that hold the digests.
	ja = ja[bytes.Index(ja, []byte("\n  \"action\"")):]
	jb = jb[bytes.Index(jb, []byte("\n  \"action\"")):]
	if os.Getenv("SPECGEN_DUMP") != "" {
		_ = os.WriteFile(filepath.Join(os.Getenv("SPECGEN_DUMP"), "loaded.json"), ja, 0o644)
		_ = os.WriteFile(filepath.Join(os.Getenv("SPECGEN_DUMP"), "generated.json"), jb, 0o644)
	}
	if !bytes.Equal(ja, jb) {
		t.Errorf("generated spec and its HCL compile differently:\n%s", lineDiff(ja, jb))
	}
}

// BenchmarkDominikGraph is the same work on github.com/dominikbraun/graph
// v0.23.0 (build the instance graph, StableTopologicalSort for a
// deterministic order, as a plan needs), to show why the planner keeps
// to flat slices. 100k is left out: it runs for minutes.
func BenchmarkDominikGraph(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		dir := b.TempDir()
		if err := specgen.WriteDir(dir, n); err != nil {
			b.Fatal(err)
		}
		p, diags := Compile(specgen.Spec(n, dir), Options{})
		if diags.HasErrors() {
			b.Fatal(diags)
		}
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				g := dgraph.New(dgraph.StringHash, dgraph.Directed())
				for _, o := range p.Operations {
					if err := g.AddVertex(o.ID); err != nil {
						b.Fatal(err)
					}
				}
				for _, o := range p.Operations {
					for _, d := range o.DependsOn {
						if err := g.AddEdge(d, o.ID); err != nil {
							b.Fatal(err)
						}
					}
				}
				order, err := dgraph.StableTopologicalSort(g, func(a, b string) bool { return a < b })
				if err != nil || len(order) != len(p.Operations) {
					b.Fatal(err, len(order))
				}
			}
		})
	}
}

// BenchmarkParse times reading a plan back (what show, sim and exec do).
func BenchmarkParse(b *testing.B) {
	for _, n := range benchSizes {
		dir := b.TempDir()
		if err := specgen.WriteDir(dir, n); err != nil {
			b.Fatal(err)
		}
		p, diags := Compile(specgen.Spec(n, dir), Options{})
		if diags.HasErrors() {
			b.Fatal(diags)
		}
		data, err := p.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPlanWriter times writing the plan's bytes alone, without the
// digest: the main goroutine's share of Marshal (SHA-256 runs on another).
func BenchmarkPlanWriter(b *testing.B) {
	dir := b.TempDir()
	if err := specgen.WriteDir(dir, 100000); err != nil {
		b.Fatal(err)
	}
	p, diags := Compile(specgen.Spec(100000, dir), Options{})
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.encode(encoder{}); err != nil {
			b.Fatal(err)
		}
	}
}
