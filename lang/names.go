package lang

import (
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/agext/levenshtein"
	"github.com/zclconf/go-cty/cty"
)

// validName is the shape of every name that ends up in an operation ID, a
// file name or a Terraform target: components, regions, phases, modes, apis.
var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// nameProblem returns a diagnostic detail when name is not a valid name.
func nameProblem(kind, name string) string {
	if validName.MatchString(name) {
		return ""
	}
	return fmt.Sprintf("The %s name %q is not valid: a name starts with a lowercase letter or a digit and holds only lowercase letters, digits, \"_\" and \"-\", because it ends up in operation IDs, file names and Terraform targets.", kind, name)
}

// suggest returns the candidate closest to given when it is close enough to
// be a likely typo (Levenshtein distance under 3, as in hcl's didyoumean.go),
// else "". Ties go to the first in sorted order so messages are stable.
func suggest(given string, candidates []string) string {
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	best, bestDist := "", 3
	for _, c := range sorted {
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
// sensitive variable.
func IsSensitive(v cty.Value) bool {
	if v.HasMark(MarkSensitive) {
		return true
	}
	_, pvm := v.UnmarkDeepWithPaths()
	for _, p := range pvm {
		if _, ok := p.Marks[MarkSensitive]; ok {
			return true
		}
	}
	return false
}
