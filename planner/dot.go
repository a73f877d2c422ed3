package planner

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// WriteDOT writes the plan's operation graph as Graphviz DOT: one node per
// operation (labelled with its batch; run-alone ones bold with the reason
// as tooltip), an edge from each dependency to its dependent (the order
// they run in), one cluster per phase. Output is deterministic: clusters in
// the plan's phase order, nodes and edges in operation ID order.
//
// It is written directly rather than through dominikbraun/graph's draw
// package: that one has no clusters and would need the graph copied into
// its maps first.
func (p *Plan) WriteDOT(w io.Writer) error {
	bw := bufio.NewWriter(w)
	batchOf := make(map[string]int, len(p.Operations))
	for _, b := range p.Batches {
		for _, id := range b.Operations {
			batchOf[id] = b.Index
		}
	}
	title := fmt.Sprintf("%s: %s, mode %s", p.Deployment, p.Action, p.Mode.Name)
	fmt.Fprintf(bw, "digraph %s {\n", dotQuote(p.Deployment))
	fmt.Fprintf(bw, "  graph [rankdir=LR, label=%s, labelloc=t, fontname=\"Helvetica\"];\n", dotQuote(title))
	fmt.Fprintln(bw, "  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];")
	fmt.Fprintln(bw, "  edge [color=\"#666666\"];")
	// Phases in plan order, then any an operation names that the list
	// lacks (hand-built plans).
	var order []string
	seen := map[string]bool{}
	for _, ph := range p.Phases {
		if !seen[ph.Name] {
			seen[ph.Name] = true
			order = append(order, ph.Name)
		}
	}
	byPhase := map[string][]*Operation{}
	for i := range p.Operations {
		o := &p.Operations[i]
		if !seen[o.Phase] {
			seen[o.Phase] = true
			order = append(order, o.Phase)
		}
		byPhase[o.Phase] = append(byPhase[o.Phase], o)
	}
	for i, ph := range order {
		ops := byPhase[ph]
		if len(ops) == 0 {
			continue
		}
		fmt.Fprintf(bw, "  subgraph %s {\n", dotQuote(fmt.Sprintf("cluster_%d", i)))
		fmt.Fprintf(bw, "    label=%s;\n", dotQuote("phase "+ph))
		for _, o := range ops {
			attrs := fmt.Sprintf("label=%s", dotQuote(fmt.Sprintf("%s\nbatch %d", o.ID, batchOf[o.ID])))
			if o.Alone != "" {
				attrs += fmt.Sprintf(", style=\"rounded,bold\", color=\"#b00020\", tooltip=%s", dotQuote("runs alone: "+o.Alone))
			}
			fmt.Fprintf(bw, "    %s [%s];\n", dotQuote(o.ID), attrs)
		}
		fmt.Fprintln(bw, "  }")
	}
	for _, o := range p.Operations {
		for _, d := range o.DependsOn {
			fmt.Fprintf(bw, "  %s -> %s;\n", dotQuote(d), dotQuote(o.ID))
		}
	}
	fmt.Fprintln(bw, "}")
	return bw.Flush()
}

// dotQuote writes a DOT double-quoted string; newlines become \n.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
