package views

import (
	"strings"
	"testing"

	"github.com/echelonhq/echelon/calib"
)

// The text names the first outliers and counts the rest; the file has all.
func TestCalibrateCapsOutliers(t *testing.T) {
	f := &calib.ComponentFit{Duration: &calib.Fit{Samples: 30, P50: 1, P90: 2}}
	for i := 0; i < 15; i++ {
		f.Outliers = append(f.Outliers, calib.Outlier{Op: "web/r" + string(rune('a'+i)), Run: 1, Attempt: 1, Seconds: 9, Median: 1})
	}
	c := &calib.Calibration{Runs: 1, LastRun: "2026-11-01", Components: map[string]map[string]*calib.ComponentFit{"web": {"deploy": f}}}
	var b strings.Builder
	if err := NewCalibrate(false, &b).Result("x.json", c, nil); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "outliers (15 beyond") || !strings.Contains(out, "and 5 more") ||
		!strings.Contains(out, "web/rj ") || strings.Contains(out, "web/rk ") {
		t.Errorf("want 10 outliers named and 5 counted:\n%s", out)
	}
}
