package lang

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// validName is the shape of every name that ends up in an operation ID, a
// file name or a Terraform target: components, regions, phases, modes, apis.
var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// nameProblem returns a diagnostic detail when name is not a valid name.
func nameProblem(kind, name string) string {
	if len(name) > MaxNameLength {
		return fmt.Sprintf("The %s name %q... is %d characters long, over the limit of %d: names end up in operation IDs and file names, which the file system limits.", kind, name[:MaxNameLength], len(name), MaxNameLength)
	}
	if validName.MatchString(name) {
		return ""
	}
	return fmt.Sprintf("The %s name %q is not valid: a name starts with a lowercase letter or a digit and holds only lowercase letters, digits, \"_\" and \"-\", because it ends up in operation IDs, file names and Terraform targets.", kind, name)
}

// suggest returns the candidate closest to given when it is close enough to
// be a likely typo (Levenshtein distance under 3, as in hcl's didyoumean.go),
// else "". Ties go to the first in sorted order so messages are stable.
func suggest(given string, candidates []string) string {
	if len(given) > 2*MaxNameLength {
		return "" // no name is that long; the distance would cost len^2
	}
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	best, bestDist := "", 3
	for _, c := range sorted {
		if diff := len(given) - len(c); diff >= bestDist || -diff >= bestDist {
			continue // the distance is at least the difference in length
		}
		if d := levenshtein.Distance(given, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// didYouMean formats a suggestion as a sentence to append to a detail.
func didYouMean(given string, candidates []string) string {
	if s := suggest(given, candidates); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}

// parseDuration reads a duration in Go syntax ("90s", "6m", "1h30m"); a
// negative duration is an error.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: write a number and a unit, such as \"90s\", \"6m\" or \"1h30m\"", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative: a duration must be zero or more", s)
	}
	return d, nil
}

// valueMark is the type of the cty marks this package sets.
type valueMark string

// MarkSensitive marks values that come from a sensitive variable. cty
// carries marks through expressions and functions, so anything derived
// from a sensitive variable (e.g. a terraform var) stays marked.
const MarkSensitive = valueMark("sensitive")

// IsSensitive reports whether v, or any value nested in it, derives from a
// sensitive variable. It walks the elements itself: cty's path-collecting
// walks allocate per element, and every attribute's value is checked.
func IsSensitive(v cty.Value) bool {
	if v.HasMark(MarkSensitive) {
		return true
	}
	v, _ = v.Unmark()
	ty := v.Type()
	if ty.IsPrimitiveType() || !v.IsKnown() || v.IsNull() {
		return false
	}
	if !(ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType() || ty.IsObjectType()) {
		return false
	}
	for it := v.ElementIterator(); it.Next(); {
		if _, ev := it.Element(); IsSensitive(ev) {
			return true
		}
	}
	return false
}

// redactSensitive keeps sensitive values out of the diagnostics: a
// function's error message may quote its argument (parseint, regex, ...),
// so the message of a failed call that uses a sensitive value is cut to
// its first clause, and any sensitive variable's value left in a summary
// or detail reads "(sensitive value)". lang's own messages never quote a
// sensitive value: value() refuses one wherever a message would print it.
func (l *loader) redactSensitive() {
	var secrets []string
	for _, v := range l.spec.Variables {
		if v.Sensitive && v.Value != cty.NilVal {
			secrets = appendStrings(secrets, v.Value)
		}
	}
	// Longest first, so a secret containing another is replaced whole.
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for _, d := range l.diags {
		if isCallDiag(d) && d.Expression != nil && usesSensitive(d.Expression, d.EvalContext) {
			head, _, _ := strings.Cut(d.Detail, ": ")
			d.Detail = strings.TrimSuffix(head, ".") + ": the message is hidden because an argument derives from a sensitive value."
		}
		for _, s := range secrets {
			d.Summary = redactString(d.Summary, s)
			d.Detail = redactString(d.Detail, s)
		}
	}
}

// redactString replaces secret in s: quoted anywhere, bare when it is long
// enough not to match ordinary words of the message.
func redactString(s, secret string) string {
	if secret == "" {
		return s
	}
	s = strings.ReplaceAll(s, fmt.Sprintf("%q", secret), "(sensitive value)")
	if len(secret) >= 4 {
		s = strings.ReplaceAll(s, secret, "(sensitive value)")
	}
	return s
}

// appendStrings appends the string form of every known primitive in v.
func appendStrings(out []string, v cty.Value) []string {
	v, _ = v.UnmarkDeep()
	if !v.IsKnown() || v.IsNull() {
		return out
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return append(out, v.AsString())
	case ty == cty.Number:
		return append(out, v.AsBigFloat().Text('f', -1))
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType() || ty.IsObjectType():
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			out = appendStrings(out, ev)
		}
	}
	return out
}

// isCallDiag reports hcl's diagnostics for a failed function call, whose
// details carry the function's own error message.
func isCallDiag(d *hcl.Diagnostic) bool {
	return d.Summary == "Error in function call" || d.Summary == "Invalid function argument"
}

// usesSensitive reports whether expr refers to a sensitive value in ctx.
func usesSensitive(expr hcl.Expression, ctx *hcl.EvalContext) bool {
	if ctx == nil {
		return false
	}
	for _, tr := range expr.Variables() {
		if v, diags := tr.TraverseAbs(ctx); !diags.HasErrors() && IsSensitive(v) {
			return true
		}
	}
	return false
}

// workspaceProblem says what is wrong with a terraform workspace name, or
// "". Terraform's own rule (validWorkspaceName in its workspace command):
// the name must read the same once path-escaped, since workspaces are
// directories (terraform.tfstate.d/NAME) and URL paths; so no "/", "\\",
// spaces, "%"... echelon also refuses "." and "..", which that rule lets
// through but which name the state directory itself or its parent.
func workspaceProblem(ws string) string {
	switch {
	case ws != url.PathEscape(ws) || strings.ContainsRune(ws, '\\'):
		return fmt.Sprintf("The workspace name %q is not valid: Terraform keeps a workspace's state in a directory named after it, so the name cannot hold characters that would need escaping in a path, such as \"/\", \"\\\\\", \"%%\" or spaces.", ws)
	case ws == "." || ws == "..":
		return fmt.Sprintf("The workspace name %q is not valid: it names a directory itself, not a workspace's own.", ws)
	}
	return ""
}

// Plural is "1 phase", "2 phases", "0 batches": a count and its noun.
// planner.Plural is this one; every count echelon prints goes through it.
func Plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "ch") {
		return strconv.Itoa(n) + " " + word + "es"
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// FormatDuration writes d the one way echelon writes durations, the way a
// spec does: Go's syntax without zero units ("7h", "1h5m", "2m1s", "45s",
// "1.5s", "0s"), so a duration echelon prints can be pasted into a spec.
// Callers round first when they want less precision.
func FormatDuration(d time.Duration) string {
	if d < 0 {
		return "-" + FormatDuration(-d)
	}
	var b strings.Builder
	if h := d / time.Hour; h > 0 {
		b.WriteString(strconv.FormatInt(int64(h), 10) + "h")
	}
	if m := d % time.Hour / time.Minute; m > 0 {
		b.WriteString(strconv.FormatInt(int64(m), 10) + "m")
	}
	if s := d % time.Minute; s > 0 || b.Len() == 0 {
		// Whole milliseconds at most: 6.2379999999999995s is 6.238s.
		b.WriteString(strconv.FormatFloat(math.Round(s.Seconds()*1000)/1000, 'f', -1, 64) + "s")
	}
	return b.String()
}
