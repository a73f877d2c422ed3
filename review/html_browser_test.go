package review

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sim"
)

// chromium finds Debian's chromium, running scripts/chromium.sh once when
// it is missing; the test skips, saying why, only when that cannot
// install it.
func chromium(t *testing.T) string {
	t.Helper()
	find := func() string {
		if _, err := os.Stat("/usr/bin/chromium"); err == nil {
			return "/usr/bin/chromium"
		}
		if p, err := exec.LookPath("chromium"); err == nil {
			return p
		}
		return ""
	}
	if p := find(); p != "" {
		return p
	}
	out, err := exec.Command("bash", filepath.Join("..", "scripts", "chromium.sh")).CombinedOutput()
	if p := find(); p != "" {
		return p
	}
	t.Skipf("chromium is not installed and scripts/chromium.sh could not install it (%v): %s", err, out)
	return ""
}

// headless runs chromium on the page with extra flags and returns its
// stdout and stderr.
func headless(t *testing.T, bin, page string, extra ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--window-size=1400,900"}, extra...)
	args = append(args, "file://"+page)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

var statusRE = regexp.MustCompile(`<span id="status" data-state="([a-z]+)">([^<]*)</span>`)

// besuPage is the simulate --html page of specs/besu-network, every mode.
func besuPage(t *testing.T) []byte {
	t.Helper()
	spec, diags := lang.Load(filepath.Join("..", "specs", "besu-network"), lang.LoadOptions{Environ: []string{}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	var plans []*planner.Plan
	var results []*sim.Result
	for _, m := range spec.Modes {
		p, diags := planner.Compile(spec, planner.Options{Mode: m.Name})
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		r, err := sim.Simulate(p, sim.Options{Trials: 200, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		plans, results = append(plans, p), append(results, r)
	}
	pg, err := SimulatePage(spec.Deployment.Name, plans, results, sim.CheckBudgets(plans[0].Budgets, results), 1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, pg); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestHTMLInChromium: the report renders in a real browser, its script
// runs without errors, and the screenshot shows the chart.
func TestHTMLInChromium(t *testing.T) {
	bin := chromium(t)
	page := besuPage(t)

	// Self-contained: nothing but the SVG namespace names a URL.
	if rest := strings.ReplaceAll(string(page), `xmlns="http://www.w3.org/2000/svg"`, ""); strings.Contains(rest, "http://") || strings.Contains(rest, "https://") {
		t.Errorf("the page names a URL: it must not fetch anything")
	}
	for _, want := range []string{`class="op crit"`, `data-mode="maximum"`, `<title>contracts: `, `class="thr"`} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("page lacks %s", want)
		}
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, page, 0o644); err != nil {
		t.Fatal(err)
	}
	dom, logs := headless(t, bin, file, "--enable-logging=stderr", "--v=0", "--dump-dom")
	m := statusRE.FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no status marker in the rendered DOM:\n%.2000s", dom)
	}
	if m[1] != "ok" {
		t.Errorf("status %s: %s", m[1], m[2])
	}
	if !strings.Contains(m[2], "rendered 4 modes, 484 operation bars") {
		t.Errorf("status says %q, want 4 modes of 121 operations", m[2])
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Uncaught") {
			t.Errorf("console: %s", line)
		}
	}

	shot := filepath.Join(dir, "report.png")
	headless(t, bin, file, "--screenshot="+shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// The chart is on screen: bars in the first phases' colours
	// (#0072B2 infrastructure, #E69F00 kubernetes, #009E73 besu).
	for _, c := range [][3]uint32{{0x00, 0x72, 0xB2}, {0xE6, 0x9F, 0x00}, {0x00, 0x9E, 0x73}} {
		if n := countColor(img, c); n < 200 {
			t.Errorf("screenshot has %d pixels of #%02X%02X%02X, want the Gantt's bars", n, c[0], c[1], c[2])
		}
	}
	if out := os.Getenv("ECHELON_REPORT_PNG"); out != "" {
		b, _ := os.ReadFile(shot)
		_ = os.WriteFile(out, b, 0o644)
	}
}

// TestHTMLScriptErrorShows: a failing script shows in the page's marker
// and in chromium's console log, so the test above would see one.
func TestHTMLScriptErrorShows(t *testing.T) {
	bin := chromium(t)
	page := bytes.Replace(besuPage(t), []byte(`<main>`), []byte(`<main><script>nosuchfunction();</script>`), 1)
	file := filepath.Join(t.TempDir(), "broken.html")
	if err := os.WriteFile(file, page, 0o644); err != nil {
		t.Fatal(err)
	}
	dom, logs := headless(t, bin, file, "--enable-logging=stderr", "--v=0", "--dump-dom")
	m := statusRE.FindStringSubmatch(dom)
	if m == nil || m[1] != "error" || !strings.Contains(m[2], "nosuchfunction") {
		t.Fatalf("status marker %q, want an error naming nosuchfunction", m)
	}
	if !regexp.MustCompile(`CONSOLE.*Uncaught ReferenceError: nosuchfunction`).MatchString(logs) {
		t.Errorf("chromium's log does not show the console error:\n%s", logs)
	}
}

func countColor(img image.Image, c [3]uint32) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 == c[0] && g>>8 == c[1] && bl>>8 == c[2] {
				n++
			}
		}
	}
	return n
}
