package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocCommandsCovered: every command is in README's Commands table and
// in docs/exit-codes.md, and each --store flag the table shows is one the
// command has (apply's, plan's, calibrate's, worker's, ...), so neither
// document falls behind the commands.
func TestDocCommandsCovered(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	codes, err := os.ReadFile(filepath.Join("..", "..", "docs", "exit-codes.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "\n## Commands\n")
	if !ok {
		t.Fatal("README has no Commands section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	rows := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `echelon ([a-z]+)([^`]*)`").FindAllStringSubmatch(table, -1) {
		rows[m[1]] = m[2]
	}
	for name := range commands {
		row, ok := rows[name]
		if !ok {
			t.Errorf("README's Commands table has no row for %s", name)
		}
		if !regexp.MustCompile("`" + name + "[ `]").Match(codes) {
			t.Errorf("docs/exit-codes.md does not name %s", name)
		}
		_, _, stderr := runCaptured(t, name, "--help")
		if strings.Contains(stderr, "--store STORE") && !strings.Contains(row, "--store") {
			t.Errorf("README's row for %s lacks its --store", name)
		}
	}
	for _, name := range []string{"apply"} {
		for _, f := range []string{"--store", "--workers", "--worker-label"} {
			if !strings.Contains(rows[name], f) {
				t.Errorf("README's row for %s lacks %s", name, f)
			}
		}
	}
}
