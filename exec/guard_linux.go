package exec

import (
	"bufio"
	"fmt"
	"os"
	osexec "os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/echelonhq/echelon/store"
)

// The group guard (Linux): one small process beside each echelon process
// that runs tools, which SIGKILLs the process groups of the tool
// processes still running when echelon dies, however it dies (kill -9,
// the OOM killer). The kernel's death signal (setDeathSignal) reaches only
// the tool's own process: what it started (a shell's sleep, terraform's
// providers) lives on in its process group, reparented to init, and would
// run alongside the next attempt of its operation.
//
// The guard is echelon again (/proc/self/exe: the running binary, even if
// its file was replaced since) in a mode chosen before main runs (init),
// started with the first tool process and kept for the process's life. It
// is the leader of a process group of its own, so a signal to echelon's
// group (a CI runner killing a job's group, a terminal's Ctrl-C) spares
// it, and it ignores the signals that stop or end a job. It reads a pipe
// from echelon: "+PGID START" when a tool process starts (START: its start
// time, store.ProcStart), "-PGID" once it has been waited for. End of file
// means echelon is gone (the pipe's only writer; its end is close-on-exec,
// so no tool holds it): the guard kills every group still registered, if
// it is still the registered one (store.KillGroup: a group whose ID was
// given again is not touched), and exits. Per tool process this costs a
// read of /proc and two writes to a pipe; the guard's own start (a fork
// and exec of echelon) is paid once.
const (
	guardArg = "__echelon_group_guard__"
	guardEnv = "ECHELON_GROUP_GUARD=1"
)

func init() {
	if len(os.Args) == 2 && os.Args[1] == guardArg && os.Getenv("ECHELON_GROUP_GUARD") == "1" {
		os.Exit(runGuard(os.Stdin))
	}
}

// runGuard is the guard's life: it reads the registrations from in until
// end of file, then kills the groups still registered.
func runGuard(in *os.File) int {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGPIPE)
	groups := map[int]uint64{}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "+"):
			f := strings.Fields(line[1:])
			if len(f) != 2 {
				continue
			}
			pgid, err1 := strconv.Atoi(f[0])
			start, err2 := strconv.ParseUint(f[1], 10, 64)
			if err1 == nil && err2 == nil {
				groups[pgid] = start
			}
		case strings.HasPrefix(line, "-"):
			if pgid, err := strconv.Atoi(line[1:]); err == nil {
				delete(groups, pgid)
			}
		}
	}
	own := syscall.Getpgrp()
	for pgid, start := range groups {
		if pgid > 1 && pgid != own {
			_, _ = store.KillGroup(pgid, start, 2*time.Second)
		}
	}
	return 0
}

// groupGuard is echelon's side of the guard.
type groupGuard struct {
	mu     sync.Mutex
	w      *os.File       // the pipe to the guard; nil: none runs
	proc   *os.Process    // the guard
	groups map[int]uint64 // registered: pgid -> its leader's start
	failed time.Time      // the last start that failed: not tried again for a minute
}

var guard = &groupGuard{groups: map[int]uint64{}}

// watch registers the process group of a tool process just started (its
// leader, not yet waited for).
func (g *groupGuard) watch(pgid int) {
	start := store.ProcStart(pgid)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.groups[pgid] = start
	if g.w == nil {
		g.startLocked() // sends every registered group
		return
	}
	g.sendLocked(fmt.Sprintf("+%d %d\n", pgid, start))
}

// unwatch lets a group go once its leader has been waited for.
func (g *groupGuard) unwatch(pgid int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.groups, pgid)
	if g.w != nil {
		g.sendLocked(fmt.Sprintf("-%d\n", pgid))
	}
}

// sendLocked writes to the guard; a guard that cannot be written to (it
// died, or is stopped with its pipe full) is dropped, and the next watch
// starts another.
func (g *groupGuard) sendLocked(line string) {
	_ = g.w.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := g.w.WriteString(line); err != nil {
		g.dropLocked()
	}
}

func (g *groupGuard) dropLocked() {
	g.w.Close()
	g.w = nil
	if g.proc != nil {
		_ = g.proc.Kill() // a stopped one; one that exited is reaped below
		g.proc = nil
	}
}

// startLocked starts a guard and gives it every registered group.
func (g *groupGuard) startLocked() {
	if time.Since(g.failed) < time.Minute {
		return
	}
	r, w, err := os.Pipe()
	if err != nil {
		g.failed = time.Now()
		return
	}
	cmd := &osexec.Cmd{Path: "/proc/self/exe", Args: []string{"echelon-group-guard", guardArg},
		Env: []string{guardEnv}, Dir: "/", Stdin: r,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true}}
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		g.failed = time.Now()
		return
	}
	g.w, g.proc = w, cmd.Process
	go func() {
		_ = cmd.Wait()
		g.mu.Lock()
		if g.w == w {
			g.dropLocked()
		}
		g.mu.Unlock()
	}()
	var b strings.Builder
	for pgid, start := range g.groups {
		fmt.Fprintf(&b, "+%d %d\n", pgid, start)
	}
	g.sendLocked(b.String())
}
