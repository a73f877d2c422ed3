package calib

import (
	"math"
	"slices"
	"strconv"
)

// z90 is the standard normal's 90th percentile.
const z90 = 1.2815515655446004

// minSeconds floors a sample before its log: 10 ms, below which a time
// read from the journal is scheduling and fsync noise. Without a floor a
// resource deleted in no measurable time (0.1 ms against 3 ms) made a
// spread of 30x: a destroy predicted at 28 s with a P90 of 4 minutes.
const minSeconds = 0.01

// Fit is a lognormal fit of samples, in seconds.
type Fit struct {
	Samples int     `json:"samples"`
	P50     float64 `json:"p50"`
	P90     float64 `json:"p90"`
	// P50Range and P90Range are 95% ranges of the figures (nil with one
	// sample): how far the samples pin them down.
	P50Range []float64 `json:"p50_range,omitempty"`
	P90Range []float64 `json:"p90_range,omitempty"`
	// P90From says how p90 was set: "fit"; "no spread seen" (every sample
	// alike); "the spec's p90/p50, one sample" (one sample has no spread).
	P90From string `json:"p90_from"`
}

// How p90 was set.
const (
	FromFit      = "fit"
	FromNoSpread = "no spread seen"
	FromSpec     = "the spec's p90/p50, one sample"
	FromOne      = "p50, one sample and no spread in the spec"
)

// fitLognormal fits samples (seconds, any order); specRatio is the spec's
// p90/p50 for a single sample (<= 1: none). It returns nil for no samples.
func fitLognormal(xs []float64, specRatio float64) *Fit {
	n := len(xs)
	if n == 0 {
		return nil
	}
	logs := logsOf(xs)
	mu := mean(logs)
	f := &Fit{Samples: n, P50: math.Exp(mu)}
	if n == 1 {
		f.P90, f.P90From = f.P50, FromOne
		if specRatio > 1 {
			f.P90, f.P90From = f.P50*specRatio, FromSpec
		}
		return f
	}
	s := stddev(logs, mu)
	f.P90 = math.Exp(mu + z90*s)
	f.P90From = FromFit
	if s == 0 {
		f.P90From = FromNoSpread
	}
	t := tQuantile975(n - 1)
	seMu := s / math.Sqrt(float64(n))
	// var(mu + z s) = s^2/n + z^2 s^2 / (2 (n-1)) (delta method)
	seQ := s * math.Sqrt(1/float64(n)+z90*z90/(2*float64(n-1)))
	f.P50Range = []float64{math.Exp(mu - t*seMu), math.Exp(mu + t*seMu)}
	q := mu + z90*s
	f.P90Range = []float64{math.Exp(q - t*seQ), math.Exp(q + t*seQ)}
	return f
}

func logsOf(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = math.Log(math.Max(x, minSeconds))
	}
	return out
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func stddev(v []float64, mu float64) float64 {
	if len(v) < 2 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += (x - mu) * (x - mu)
	}
	return math.Sqrt(s / float64(len(v)-1))
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// outlierIdx are the indexes of xs beyond 3 scaled MADs of the median, in
// log space (at least 3 samples; none when the MAD is 0).
func outlierIdx(xs []float64) []int {
	if len(xs) < 3 {
		return nil
	}
	logs := logsOf(xs)
	med := median(logs)
	dev := make([]float64, len(logs))
	for i, l := range logs {
		dev[i] = math.Abs(l - med)
	}
	mad := 1.4826 * median(dev)
	if mad == 0 {
		return nil
	}
	var out []int
	for i, d := range dev {
		if d > 3*mad {
			out = append(out, i)
		}
	}
	return out
}

// tTable is Student's t 97.5% quantile for 1..30 degrees of freedom.
var tTable = [...]float64{12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
	2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
	2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042}

// tQuantile975 is Student's t 97.5% quantile (the normal's beyond 30).
func tQuantile975(df int) float64 {
	switch {
	case df < 1:
		return math.Inf(1)
	case df <= len(tTable):
		return tTable[df-1]
	case df <= 120:
		return 1.96 + 2.4/float64(df) // within 0.002 of the table's values
	}
	return 1.96
}

// round4 rounds to 4 significant digits: the file's figures read as
// measured, and a refit of the same runs writes the same bytes.
func round4(x float64) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 4, 64), 64)
	return v
}

// rounded is f with its figures rounded (round4).
func (f *Fit) rounded() *Fit {
	if f == nil {
		return nil
	}
	g := *f
	g.P50, g.P90 = round4(g.P50), round4(g.P90)
	r := func(v []float64) []float64 {
		if v == nil {
			return nil
		}
		return []float64{round4(v[0]), round4(v[1])}
	}
	g.P50Range, g.P90Range = r(g.P50Range), r(g.P90Range)
	return &g
}
