package sim

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/echelonhq/echelon/planner"
)

// besuPlan compiles specs/besu-network for a mode.
func besuPlan(b *testing.B, mode string) *planner.Plan {
	_, plans := specPlans(b, "besu-network")
	for _, p := range plans {
		if p.Mode.Name == mode {
			return p
		}
	}
	b.Fatalf("no mode %s", mode)
	return nil
}

// contended is a synthetic plan that keeps the heap busy: 64 concurrent
// operations whose requests interleave on one bucket (one event per
// request, the worst case for the closed-form windows), under throttling.
func contended() *planner.Plan {
	var ops []planner.Operation
	for i := 0; i < 64; i++ {
		o := fixed(fmt.Sprintf("op%02d", i), 600)
		o.Duration.P90 = 900
		o.Calls = map[string]int{"arm": 100}
		ops = append(ops, o)
	}
	return withAPI(mkPlan(planner.Mode{}, ops...), 10, 2000, 1, 30)
}

// benchEvents runs trials on one goroutine and reports heap events per
// second of one core.
func benchEvents(b *testing.B, p *planner.Plan) {
	m, err := newModel(p)
	if err != nil {
		b.Fatal(err)
	}
	e := newEngine(m)
	var events int64
	// The thread's own CPU time as well as the wall clock: on a shared
	// machine the wall clock counts other people's work too.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := e.run(1, i); err != nil {
			b.Fatal(err)
		}
		events += e.events
	}
	el := time.Since(start).Seconds()
	cpu := threadCPU() - cpu0
	b.ReportMetric(float64(events)/el, "events/s")
	if cpu > 0 {
		b.ReportMetric(float64(events)/cpu, "events/cpu-s")
		b.ReportMetric(cpu/float64(b.N)*1e6, "cpu-µs/trial")
	}
	b.ReportMetric(float64(events)/float64(b.N), "events/trial")
}

// processCPU is the process's CPU time in seconds, every thread.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// threadCPU is the calling thread's CPU time in seconds (Linux
// RUSAGE_THREAD).
func threadCPU() float64 {
	const rusageThread = 1
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func BenchmarkEventsPerCore(b *testing.B) {
	b.Run("contended", func(b *testing.B) { benchEvents(b, contended()) })
	for _, mode := range []string{"standard", "ultra"} {
		b.Run("besu-"+mode, func(b *testing.B) { benchEvents(b, besuPlan(b, mode)) })
	}
}

// BenchmarkBesu10kTrials is the time of 10,000 trials of specs/besu-network
// on every core (what `echelon simulate --trials 10000` spends simulating,
// without the recommendation search).
func BenchmarkBesu10kTrials(b *testing.B) {
	for _, mode := range []string{"standard", "ultra"} {
		b.Run(mode, func(b *testing.B) {
			p := besuPlan(b, mode)
			cpu0 := processCPU()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := Simulate(p, Options{Trials: 10000, Seed: 1}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			// CPU seconds over the cores: the wall time of an otherwise
			// idle machine with runtime.NumCPU() cores.
			cpu := (processCPU() - cpu0) / float64(b.N)
			b.ReportMetric(cpu, "cpu-s")
			b.ReportMetric(cpu/float64(runtime.NumCPU()), "idle-wall-s")
			b.ReportMetric(float64(runtime.NumCPU()), "cores")
		})
	}
}
