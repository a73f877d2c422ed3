package planner

import "testing"

// TestFormatSeconds: whole seconds from ten seconds up, tenths below, so a
// plan of sub-second steps does not read "critical path 0s".
func TestFormatSeconds(t *testing.T) {
	for _, tc := range []struct {
		s    float64
		want string
	}{
		{0, "0s"}, {0.3, "0.3s"}, {0.25, "0.3s"}, {1.5, "1.5s"}, {9.94, "9.9s"},
		{10.4, "10s"}, {90, "1m30s"}, {7 * 3600, "7h"}, {-1, "0s"},
	} {
		if got := FormatSeconds(tc.s); got != tc.want {
			t.Errorf("FormatSeconds(%v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}
