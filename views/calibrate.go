package views

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/echelonhq/echelon/calib"
)

// Calibrate is calibrate's view: the file written and what it fitted.
type Calibrate interface {
	Result(file string, c *calib.Calibration, notes []string) error
}

// NewCalibrate returns calibrate's view on w: one JSON document with
// asJSON ({"file", "calibration", "notes"}), a table otherwise.
func NewCalibrate(asJSON bool, w io.Writer) Calibrate {
	if asJSON {
		return calibrateJSON{w}
	}
	return calibrateHuman{w}
}

type calibrateJSON struct{ w io.Writer }

func (v calibrateJSON) Result(file string, c *calib.Calibration, notes []string) error {
	if notes == nil {
		notes = []string{}
	}
	b, err := json.MarshalIndent(struct {
		File        string             `json:"file"`
		Calibration *calib.Calibration `json:"calibration"`
		Notes       []string           `json:"notes"`
	}{file, c, notes}, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(v.w, "%s\n", b)
	return err
}

type calibrateHuman struct{ w io.Writer }

func (v calibrateHuman) Result(file string, c *calib.Calibration, notes []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "wrote %s: %s\n\n", file, c.Summary())
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tACTION\tWHAT\tSAMPLES\tP50\tP90\tP90 FROM\tFAILED")
	var outliers []string
	for _, comp := range slices.Sorted(maps.Keys(c.Components)) {
		for _, action := range slices.Sorted(maps.Keys(c.Components[comp])) {
			f := c.Components[comp][action]
			failed := fmt.Sprintf("%d/%d", f.Failed, f.Attempts)
			for _, row := range []struct {
				what string
				fit  *calib.Fit
			}{{"duration", f.Duration}, {"resource", f.Resource}} {
				if row.fit == nil {
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", comp, action, row.what, row.fit.Samples,
					secs(row.fit.P50), secs(row.fit.P90), row.fit.P90From, failed)
			}
			if f.Duration == nil && f.Resource == nil {
				fmt.Fprintf(tw, "%s\t%s\t-\t0\t-\t-\t-\t%s\n", comp, action, failed)
			}
			for _, o := range f.Outliers {
				what := o.Op
				if o.Resource != "" {
					what += " " + o.Resource
				}
				outliers = append(outliers, fmt.Sprintf("  %s (run %d, attempt %d): %s, median %s", what, o.Run, o.Attempt, secs(o.Seconds), secs(o.Median)))
			}
		}
	}
	tw.Flush()
	for _, d := range slices.Sorted(maps.Keys(c.Drivers)) {
		f := c.Drivers[d]
		fitted := "none fitted"
		if len(f.Fitted) > 0 {
			fitted = "fitted: " + strings.Join(f.Fitted, ", ")
		}
		fmt.Fprintf(&b, "\n%s overhead over %d steps: process %s, init %s, per resource %s (%s; the rest are defaults)\n",
			d, f.Steps, secs(f.Overhead.Process), secs(f.Overhead.Init), secs(f.Overhead.Resource), fitted)
	}
	if len(c.APIs) > 0 {
		b.WriteString("\nthrottled:")
		for _, a := range slices.Sorted(maps.Keys(c.APIs)) {
			fmt.Fprintf(&b, " %s %d (%.4g a run)", a, c.APIs[a].Throttles, c.APIs[a].PerRun)
		}
		b.WriteString("\n")
	}
	if len(outliers) > 0 {
		n := len(outliers)
		if n > maxOutlierLines {
			outliers = append(outliers[:maxOutlierLines:maxOutlierLines],
				fmt.Sprintf("  and %d more (--json or the calibration file lists them all)", n-maxOutlierLines))
		}
		b.WriteString(fmt.Sprintf("\noutliers (%d beyond 3 MADs of the median, kept in the fit):\n", n) + strings.Join(outliers, "\n") + "\n")
	}
	for _, n := range notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	_, err := io.WriteString(v.w, b.String())
	return err
}

// maxOutlierLines is how many outliers the text names; the file has all.
const maxOutlierLines = 10
