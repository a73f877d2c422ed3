package sim

import (
	"fmt"
	"math"
	"path"
	"sort"
)

// DriverOverhead is what each process a driver starts costs besides its
// work, in seconds of CPU-bound time: the cost the simulator adds to every
// step (docs/simulator.md, "Tool overhead"). The defaults are measured by
// scripts/measure-overhead.sh on real tools.
type DriverOverhead struct {
	// Run is paid once per run by the driver's first step (terraform: the
	// version check of its binary).
	Run float64 `json:"run"`
	// Init is paid by the first step in each working directory (terraform:
	// init of the directory).
	Init float64 `json:"init"`
	// Process is paid by every step: the process's start (terraform: its
	// configuration, state and plan before the first resource).
	Process float64 `json:"process"`
	// Resource is paid per resource of a terraform step (its refresh and
	// plan), whether it has changes or not.
	Resource float64 `json:"resource"`
}

// DefaultOverhead is each driver's measured overhead, by
// scripts/measure-overhead.sh at load 2 on a 2-core machine (BENCHMARKS.md,
// "Tool overhead"): terraform 1.11 applying terraform_data resources (the
// built-in provider) through exec's driver, kubectl applying two objects
// and helm upgrading a release against a local kube-apiserver, and a
// command's fork, exec and log file. A real provider's plugin start adds to
// Process; `echelon calibrate` fits it from runs.
func DefaultOverhead() map[string]DriverOverhead {
	return map[string]DriverOverhead{
		"terraform": {Run: 0.10, Init: 0.08, Process: 0.057, Resource: 0.003},
		"kubectl":   {Process: 0.35},
		"helm":      {Process: 0.41},
		"command":   {Process: 0.002},
	}
}

// ohDef is a driver's overhead in microseconds.
type ohDef struct {
	run, init, process, resource int64
}

func micros(s float64) int64 { return int64(math.Round(max(s, 0) * usPerSecond)) }

// checkOverhead rejects what no machine measures.
func checkOverhead(oh map[string]DriverOverhead, cores int) error {
	if cores < 0 {
		return fmt.Errorf("cores = %d: at least 1 (0: no limit)", cores)
	}
	names := make([]string, 0, len(oh))
	for n := range oh {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d := oh[n]
		for _, v := range []float64{d.Run, d.Init, d.Process, d.Resource} {
			if math.IsNaN(v) || v < 0 || v > 3600 {
				return fmt.Errorf("overhead of %s: %v s is not a duration between 0 and 1h", n, v)
			}
		}
	}
	return nil
}

// setOverhead gives the model each operation's driver and directory, and
// the drivers' overheads; nil oh: no overhead (the model before it).
func (m *model) setOverhead(oh map[string]DriverOverhead, cores int) error {
	if err := checkOverhead(oh, cores); err != nil {
		return err
	}
	m.cores = cores
	if len(oh) == 0 {
		m.oh = nil
		return nil
	}
	drivers := map[string]int8{}
	dirs := map[string]int32{}
	m.oh = m.oh[:0]
	m.opDriver = make([]int8, len(m.ops))
	m.opDir = make([]int32, len(m.ops))
	m.opRes = make([]int32, len(m.ops))
	for r := range m.pol.Ops {
		o := &m.plan.Operations[m.pol.Ops[r].Index]
		d, ok := drivers[o.Driver]
		if !ok {
			def := oh[o.Driver]
			d = int8(len(m.oh))
			drivers[o.Driver] = d
			m.oh = append(m.oh, ohDef{run: micros(def.Run), init: micros(def.Init),
				process: micros(def.Process), resource: micros(def.Resource)})
		}
		m.opDriver[r] = d
		m.opDir[r] = -1
		if t := o.Terraform; t != nil {
			key := path.Clean(t.Dir)
			di, ok := dirs[key]
			if !ok {
				di = int32(len(dirs))
				dirs[key] = di
			}
			m.opDir[r] = di
			m.opRes[r] = int32(o.Resources)
		}
	}
	m.nDirs = len(dirs)
	return nil
}

// overhead is what the step of these members pays before its work, at
// e.now: its driver's process cost and per resource, stretched when more
// steps are in their CPU-bound start than the machine has cores; and, as
// exec's drivers do, the first step of the run checks the driver's version
// and the first step in a directory initialises it while the steps that
// start meanwhile wait for both to be done.
func (e *engine) overhead(members []int32) int64 {
	m := e.m
	if m.oh == nil {
		return 0
	}
	first := members[0]
	d := m.opDriver[first]
	def := &m.oh[d]
	var res int64
	for _, r := range members {
		res += int64(m.opRes[r])
	}
	own := def.process + res*def.resource
	dir := m.opDir[first]
	if !e.driverRan[d] {
		e.driverRan[d] = true
		e.driverReady[d] = e.now + e.stretch(def.run)
	}
	gate := e.driverReady[d]
	if dir >= 0 {
		if !e.dirInit[dir] {
			e.dirInit[dir] = true
			e.dirReady[dir] = max(e.now, gate) + e.stretch(def.init)
		}
		gate = max(gate, e.dirReady[dir])
	}
	return max(gate-e.now, 0) + e.stretch(own)
}

// stretch is how long oh µs of start-up takes when it begins now: on c
// cores, with n other start-ups still running, (n+1)/c times as long when
// that is more than 1. It books the start-up's end for later ones.
func (e *engine) stretch(oh int64) int64 {
	cores := int64(e.m.cores)
	if oh <= 0 || cores <= 0 {
		return max(oh, 0)
	}
	// cpuBusy is a min-heap of the start-ups' ends: drop those done, the
	// rest share the cores (O(log n) a start, not a scan of all in flight).
	for len(e.cpuBusy) > 0 && e.cpuBusy[0] <= e.now {
		popInt64(&e.cpuBusy)
	}
	if n := int64(len(e.cpuBusy)) + 1; n > cores {
		oh = oh * n / cores
	}
	pushInt64(&e.cpuBusy, e.now+oh)
	return oh
}

// resetOverhead clears a trial's first-of-run and first-in-directory marks.
func (e *engine) resetOverhead() {
	m := e.m
	if m.oh == nil {
		return
	}
	if len(e.driverRan) != len(m.oh) {
		e.driverRan = make([]bool, len(m.oh))
		e.driverReady = make([]int64, len(m.oh))
		e.dirInit = make([]bool, m.nDirs)
		e.dirReady = make([]int64, m.nDirs)
	}
	clear(e.driverRan)
	clear(e.dirInit)
	e.cpuBusy = e.cpuBusy[:0]
}

// pushInt64 and popInt64 keep h a binary min-heap.
func pushInt64(h *[]int64, v int64) {
	*h = append(*h, v)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[p] <= s[i] {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func popInt64(h *[]int64) {
	s := *h
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	for i := 0; ; {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && s[c+1] < s[c] {
			c++
		}
		if s[i] <= s[c] {
			break
		}
		s[i], s[c] = s[c], s[i]
		i = c
	}
	*h = s
}
