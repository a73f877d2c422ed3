package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"

	"github.com/echelonhq/echelon/planner"
)

// graphJSON is `graph --json`: the same graph as data.
type graphJSON struct {
	FormatVersion string      `json:"format_version"`
	Nodes         []graphNode `json:"nodes"`
	Edges         []graphEdge `json:"edges"`
}

type graphNode struct {
	ID    string `json:"id"`
	Phase string `json:"phase"`
	Batch int    `json:"batch"`
	Alone string `json:"alone,omitempty"`
}

// graphEdge runs from a dependency to the operation that waits for it.
type graphEdge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// runGraph prints the operation graph of a spec (compiled for --mode) or
// of a plan file as Graphviz DOT: `echelon graph SPEC | dot -Tsvg`.
//
//	echelon graph SPEC|PLAN [--mode M] [--var k=v]... [--var-file F]... [--destroy] [--json]
func runGraph(ctx context.Context, args []string) error {
	fs := newFlagSet("graph", "graph SPEC|PLAN [--mode M] [--var NAME=VALUE]... [--var-file FILE]... [--destroy] [--json]")
	sf := specFlags{ctx: ctx}
	mode := fs.String("mode", "", "`MODE` to compile a spec for")
	sf.register(fs)
	destroy := fs.Bool("destroy", false, "graph the destroy plan of a spec")
	asJSON := fs.Bool("json", false, "print nodes and edges as JSON (and diagnostics as JSON, on stdout)")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	tuneGC()
	if fs.NArg() != 1 {
		return usagef("graph takes one spec or plan file, got %s", planner.Plural(fs.NArg(), "argument"))
	}
	path := fs.Arg(0)
	var p *planner.Plan
	if isPlanFile(path) {
		if *mode != "" || len(sf.vars) > 0 || len(sf.varFiles) > 0 || *destroy {
			return usagef("--mode, --var, --var-file and --destroy apply to a spec, not a plan file")
		}
		var err error
		if p, err = planner.ReadFile(path); err != nil {
			return err
		}
	} else {
		spec, err := sf.load(path, os.Stderr, *asJSON)
		if err != nil {
			return err
		}
		if err := checkMode(spec, *mode); err != nil {
			return err
		}
		if p, err = compileSpec(spec, planner.Options{Mode: *mode, Destroy: *destroy}, *asJSON); err != nil {
			return err
		}
	}
	if !*asJSON {
		return p.WriteDOT(plannerStdout)
	}
	g := graphJSON{FormatVersion: planner.FormatVersion, Nodes: []graphNode{}, Edges: []graphEdge{}}
	batch := map[string]int{}
	for _, b := range p.Batches {
		for _, id := range b.Operations {
			batch[id] = b.Index
		}
	}
	for _, o := range p.Operations {
		g.Nodes = append(g.Nodes, graphNode{ID: o.ID, Phase: o.Phase, Batch: batch[o.ID], Alone: o.Alone})
		for _, d := range o.DependsOn {
			g.Edges = append(g.Edges, graphEdge{From: d, To: o.ID})
		}
	}
	enc := json.NewEncoder(plannerStdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(g)
}
