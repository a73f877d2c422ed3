package views

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/echelonhq/echelon/exec"
)

// Preview renders `echelon plan`: per operation and in total what
// terraform would add, change and destroy, as text, JSON (preview.json's
// shape) or markdown for a PR comment. failed are the operations whose
// plan failed; applyCmd is the command that applies the saved plans.
func Preview(w io.Writer, format string, pv *exec.Preview, failed []exec.Failure, applyCmd string) error {
	switch format {
	case "json":
		b, err := json.MarshalIndent(pv, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	case "markdown":
		return previewMarkdown(w, pv, failed, applyCmd)
	}
	return previewText(w, pv, failed, applyCmd)
}

func signed(c exec.Changes) string {
	return fmt.Sprintf("+%d ~%d -%d", c.Add, c.Change, c.Destroy)
}

// previewSplit is the operations planned, and the others.
func previewSplit(pv *exec.Preview) (planned, other []exec.PreviewOp) {
	for _, o := range pv.Operations {
		if o.Previewed {
			planned = append(planned, o)
		} else {
			other = append(other, o)
		}
	}
	return planned, other
}

func previewText(w io.Writer, pv *exec.Preview, failed []exec.Failure, applyCmd string) error {
	planned, other := previewSplit(pv)
	fmt.Fprintf(w, "preview of %s %s (plan %s): %d terraform operation(s) planned, %d not previewed\n",
		pv.Action, pv.Deployment, shortDigest(pv.PlanDigest), len(planned), len(other))
	width := 0
	for _, o := range planned {
		width = max(width, len(signed(o.Changes)))
	}
	for _, o := range planned {
		mark := ""
		if o.Total() == 0 {
			mark = "  (no changes)"
		}
		fmt.Fprintf(w, "  %-*s  %s%s\n", width, signed(o.Changes), o.Op, mark)
	}
	for _, sp := range pv.SavedPlans {
		if len(sp.Shared) > 0 {
			fmt.Fprintf(w, "  %d change(s) in %s under no operation's target (applied with them)\n", len(sp.Shared), sp.Dir)
		}
	}
	for _, o := range other {
		fmt.Fprintf(w, "  %s: %s\n", o.Op, o.Note)
	}
	fmt.Fprintf(w, "total: %d to add, %d to change, %d to destroy\n", pv.Total.Add, pv.Total.Change, pv.Total.Destroy)
	if len(failed) > 0 || !pv.Complete {
		fmt.Fprintf(w, "the preview is incomplete (%d failed); apply refuses it: fix and preview again\n", len(failed))
		return nil
	}
	if m := mockedOps(pv); len(m) > 0 {
		fmt.Fprintf(w, "planned with mock outputs (%d): %s; their producers are not applied yet, so an apply of this preview refuses them once the producers have run: apply the producers, then preview again (or apply --no-preview)\n",
			len(m), summarize(m, 10))
	}
	fmt.Fprintf(w, "saved plans in %s; %s applies exactly them\n", pv.Dir, applyCmd)
	return nil
}

// mockedOps are the operations planned with a producer's mock outputs.
func mockedOps(pv *exec.Preview) []string {
	var out []string
	for _, o := range pv.Operations {
		if o.Mocked {
			out = append(out, o.Op)
		}
	}
	return out
}

func previewMarkdown(w io.Writer, pv *exec.Preview, failed []exec.Failure, applyCmd string) error {
	planned, other := previewSplit(pv)
	var b strings.Builder
	b.WriteString("<!-- echelon plan -->\n")
	fmt.Fprintf(&b, "### echelon plan: %s %s\n\n", pv.Action, pv.Deployment)
	fmt.Fprintf(&b, "**%d to add, %d to change, %d to destroy** in %d terraform operation(s) (plan `%s`)\n\n",
		pv.Total.Add, pv.Total.Change, pv.Total.Destroy, len(planned), shortDigest(pv.PlanDigest))
	b.WriteString("| operation | add | change | destroy |\n|---|---:|---:|---:|\n")
	for _, o := range planned {
		fmt.Fprintf(&b, "| `%s` | %d | %d | %d |\n", o.Op, o.Add, o.Change, o.Destroy)
	}
	if len(other) > 0 {
		fmt.Fprintf(&b, "\n<details><summary>%d operation(s) not previewed</summary>\n\n", len(other))
		for _, o := range other {
			fmt.Fprintf(&b, "- `%s`: %s\n", o.Op, o.Note)
		}
		b.WriteString("\n</details>\n")
	}
	if m := mockedOps(pv); len(m) > 0 {
		fmt.Fprintf(&b, "\n:warning: planned with mock outputs (their producers are not applied yet): %s\n", summarize(m, 10))
	}
	if len(failed) > 0 || !pv.Complete {
		fmt.Fprintf(&b, "\n:x: the preview is incomplete (%d failed)\n", len(failed))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
