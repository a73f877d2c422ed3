package lang

import (
	"testing"
	"time"
)

// TestFormatDuration: every duration echelon prints is written one way,
// the spec's, and parses back to itself.
func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                     "0s",
		500 * time.Millisecond:                "0.5s",
		3 * time.Second:                       "3s",
		90 * time.Second:                      "1m30s",
		time.Minute:                           "1m",
		time.Hour + 5*time.Minute:             "1h5m",
		7 * time.Hour:                         "7h",
		2*time.Hour + 3*time.Second:           "2h3s",
		4*time.Minute + 1500*time.Millisecond: "4m1.5s",
		2*time.Minute + 6238*time.Millisecond: "2m6.238s", // not 6.2379999999999995
	} {
		got := FormatDuration(d)
		if got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := parseDuration(got); err != nil || back != d {
			t.Errorf("FormatDuration(%v) = %q parses back as %v, %v", d, got, back, err)
		}
	}
}
