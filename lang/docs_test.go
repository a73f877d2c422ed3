package lang

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// TestLanguageDocNamesEverything fails when docs/language.md, the
// language reference, does not name (in backquotes) a block, an attribute
// or a function this package accepts: a new attribute must be documented.
func TestLanguageDocNamesEverything(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "language.md"))
	if err != nil {
		t.Fatal(err)
	}
	// The words of every code span outside the fenced examples (a span
	// is within one line here).
	words := map[string]bool{}
	word := regexp.MustCompile(`[a-z0-9_]+`)
	fenced := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		for i, span := range strings.Split(line, "`") {
			if i%2 == 1 {
				for _, w := range word.FindAllString(span, -1) {
					words[w] = true
				}
			}
		}
	}
	named := func(what, name string) {
		t.Helper()
		if !words[name] {
			t.Errorf("docs/language.md does not name %s `%s`", what, name)
		}
	}
	for _, blk := range rootSchema.Blocks {
		named("the block", blk.Type)
	}
	schemas := map[string]*hcl.BodySchema{
		"deployment": deploymentSchema, "api": apiSchema, "retry": retrySchema,
		"phase": phaseSchema, "mode": modeSchema, "budget": budgetSchema,
		"variable": variableSchema, "component": componentSchema, "container": containerSchema,
	}
	for k, s := range driverSchemas {
		schemas[k] = s
	}
	for _, kind := range slices.Sorted(maps.Keys(schemas)) {
		for _, a := range schemas[kind].Attributes {
			named(kind+"'s attribute", a.Name)
		}
		for _, blk := range schemas[kind].Blocks {
			named(kind+"'s block", blk.Type)
		}
	}
	l := newLoader(t.TempDir(), LoadOptions{})
	for _, f := range slices.Sorted(maps.Keys(l.functions())) {
		named("the function", f)
	}
}
