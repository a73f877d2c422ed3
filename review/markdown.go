package review

import (
	"bufio"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strings"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sim"
)

// Marker is the first line of every comment, so a CI job can find and
// replace its earlier comment instead of adding another.
const Marker = "<!-- echelon review -->"

// WriteJSON writes r as indented JSON; arrays are never null.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteMarkdown writes r as one pull-request comment: verdict, validation,
// predictions per mode before and after, budgets, and each mode's plan
// diff folded under <details>.
func WriteMarkdown(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, Marker)
	fmt.Fprintf(bw, "## echelon review: %s (`%s`)\n\n", r.Deployment, r.Spec)
	fmt.Fprintf(bw, "Base `%s` (%s) against this change. Predictions: %d simulated runs per mode, seed %d.\n\n", r.Base, shortCommit(r.BaseCommit), r.Trials, r.Seed)
	if len(r.Problems) == 0 {
		fmt.Fprintln(bw, "**No problems**: the spec is valid and every budget holds.")
	} else {
		fmt.Fprintf(bw, "**%s:**\n\n", planner.Plural(len(r.Problems), "problem"))
		for _, p := range r.Problems {
			fmt.Fprintf(bw, "- %s\n", md(p))
		}
	}

	fmt.Fprintln(bw, "\n### Validation\n\n| | base | this change |\n|---|---|---|")
	fmt.Fprintf(bw, "| errors | %s | %s |\n", count(r.Validation.Base, r.Validation.Base.Errors), count(r.Validation.Head, r.Validation.Head.Errors))
	fmt.Fprintf(bw, "| warnings | %s | %s |\n", count(r.Validation.Base, r.Validation.Base.Warnings), count(r.Validation.Head, r.Validation.Head.Warnings))
	if len(r.Validation.Head.Diagnostics) > 0 {
		fmt.Fprintln(bw)
		for _, d := range r.Validation.Head.Diagnostics {
			pos := ""
			if d.Pos != "" {
				pos = "`" + d.Pos + "` "
			}
			fmt.Fprintf(bw, "- %s**%s**: %s", pos, d.Severity, md(d.Summary))
			if d.Detail != "" {
				fmt.Fprintf(bw, " — %s", md(d.Detail))
			}
			fmt.Fprintln(bw)
		}
	}

	fmt.Fprintln(bw, "\n### Predictions per mode\n\n| mode | plan | operations | P50 | P90 | throttled a run | risk |\n|---|---|---|---|---|---|---|")
	for _, m := range r.Modes {
		if m.Status == "not compiled" {
			fmt.Fprintf(bw, "| %s | not compiled: the spec has errors (above) | — | — | — | — | — |\n", md(m.Mode))
			continue
		}
		fmt.Fprintf(bw, "| %s | %s | %s | %s | %s | %s | %s |\n", md(m.Mode), m.Status,
			change(m.Before, m.After, func(p *Prediction) string { return fmt.Sprint(p.Operations) }, func(a, b *Prediction) string { return fmt.Sprintf("%+d", b.Operations-a.Operations) }),
			change(m.Before, m.After, func(p *Prediction) string { return sim.Duration(p.P50) }, func(a, b *Prediction) string { return signed(b.P50 - a.P50) }),
			change(m.Before, m.After, func(p *Prediction) string { return sim.Duration(p.P90) }, func(a, b *Prediction) string { return signed(b.P90 - a.P90) }),
			change(m.Before, m.After, func(p *Prediction) string { return fmt.Sprintf("%.1f", p.ThrottledMean) }, nil),
			change(m.Before, m.After, func(p *Prediction) string { return p.Risk }, nil))
	}

	if len(r.Budgets) > 0 {
		fmt.Fprintln(bw, "\n### Budgets\n\n| budget | mode | base | this change |\n|---|---|---|---|")
		for _, b := range r.Budgets {
			fmt.Fprintf(bw, "| %s | %s | %s | %s |\n", md(b.Name), md(b.Mode), budgetCell(b.Before), budgetCell(b.After))
		}
	}

	fmt.Fprintln(bw, "\n### Plan changes")
	for _, m := range r.Modes {
		switch {
		case m.Diff == nil:
			fmt.Fprintf(bw, "\n- mode **%s**: %s\n", md(m.Mode), m.Status)
		case m.Diff.Identical:
			fmt.Fprintf(bw, "\n- mode **%s**: no plan changes\n", md(m.Mode))
		default:
			d := m.Diff
			fmt.Fprintf(bw, "\n<details><summary>mode <b>%s</b>: %d added, %d removed, %d changed operations; %d batches changed</summary>\n\n",
				html.EscapeString(m.Mode), len(d.OperationsAdded), len(d.OperationsRemoved), len(d.OperationsChanged), len(d.Batches))
			if err := d.WriteMarkdownBody(bw, m.oldPlan, m.newPlan); err != nil {
				return err
			}
			fmt.Fprintln(bw, "\n</details>")
		}
	}
	return bw.Flush()
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

func count(s SideValidation, n int) string {
	if !s.Present {
		return "(no spec)"
	}
	return fmt.Sprint(n)
}

// change is "a -> b (delta)", "b (new)", "a (gone)" or "a" when equal.
func change(a, b *Prediction, f func(*Prediction) string, delta func(a, b *Prediction) string) string {
	switch {
	case a == nil && b == nil:
		return "—"
	case a == nil:
		return f(b) + " (new)"
	case b == nil:
		return f(a) + " (gone)"
	}
	x, y := f(a), f(b)
	if x == y {
		return y
	}
	s := x + " → **" + y + "**"
	if delta != nil {
		s += " (" + delta(a, b) + ")"
	}
	return s
}

func signed(sec float64) string {
	if sec < 0 {
		return "-" + sim.Duration(-sec)
	}
	return "+" + sim.Duration(sec)
}

func budgetCell(s *BudgetState) string {
	switch {
	case s == nil:
		return "—"
	case s.OK:
		return "held"
	}
	return "**broken**: " + violations(s.Violations)
}

// md escapes what would break a table cell or start markup.
func md(s string) string {
	r := strings.NewReplacer("|", "\\|", "\n", " ", "<", "&lt;")
	return r.Replace(s)
}
