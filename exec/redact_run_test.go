package exec

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

// TestRunRedactsSecrets: an operation prints the secret (stdout, and a
// throttling line on stderr that becomes the error, the throttle event and
// the journal's op_end), another fails to start with the secret in its
// argv[0]. With Options.Secrets nothing the run wrote (state directory,
// events, Result) holds it; without, the same run leaks it everywhere,
// which shows the test looks where the secret goes.
func TestRunRedactsSecrets(t *testing.T) {
	const secret = "Sekr3tVal-42"
	build := func() *planner.Plan {
		b := newPlan(t, planner.Mode{Name: "m"})
		o := b.op("leak/out", "leak", "out", "main", 0)
		o.OnError = "continue"
		o.Command = &planner.Command{Argv: []string{"sh", "-c",
			`echo "token $T"; printf 'HTTP 429: rate limit for %s\n' "$T" >&2; exit 1`},
			Env: map[string]string{"T": secret}}
		o = b.op("leak/exec", "leak", "exec", "main", 0)
		o.OnError = "continue"
		o.Command = &planner.Command{Argv: []string{"/nonexistent/" + secret}}
		return b.build()
	}
	leaks := func(secrets []string) (places []string, masked bool) {
		state := t.TempDir()
		res, evs := runPlan(t, build(), Options{StateDir: state, Secrets: secrets, ThrottleRetries: 1})
		if len(res.Failed) != 2 {
			t.Fatalf("want both operations failed, got %+v", res)
		}
		filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), secret) {
				places = append(places, p)
			}
			if strings.Contains(string(b), Masked) {
				masked = true
			}
			return nil
		})
		for _, e := range evs {
			b, _ := json.Marshal(e)
			if strings.Contains(string(b), secret) {
				places = append(places, "event "+string(b))
			}
		}
		if b, _ := json.Marshal(res); strings.Contains(string(b), secret) {
			places = append(places, "result "+string(b))
		}
		return places, masked
	}
	if places, masked := leaks([]string{secret}); len(places) > 0 || !masked {
		t.Errorf("with Secrets: leaked in %q; masked somewhere: %v", places, masked)
	}
	if places, _ := leaks(nil); len(places) < 4 {
		t.Errorf("without Secrets the secret should show in logs, journal, events and result; found only in %q", places)
	}
}
