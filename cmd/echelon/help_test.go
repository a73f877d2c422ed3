package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestHelpNamesFlagValues: --help shows what a flag takes (--state DIR,
// --trials N), never pflag's Go type names (--state string, --trials int).
func TestHelpNamesFlagValues(t *testing.T) {
	goType := regexp.MustCompile(`^\s+(?:-[a-z], )?(--[a-z0-9-]+) (string|int|uint|int64|uint64|float64|stringArray|strings|duration)\s`)
	for _, c := range completionCommands() {
		code, _, stderr := runCaptured(t, c, "--help")
		if code != 0 {
			t.Fatalf("echelon %s --help exits %d: %s", c, code, stderr)
		}
		for _, line := range strings.Split(stderr, "\n") {
			m := goType.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			t.Errorf("echelon %s --help shows a Go type: %q", c, strings.TrimSpace(line))
		}
	}
}
