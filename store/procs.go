package store

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process groups left by a dead echelon (docs/store.md, "Orphaned
// process groups"): what /proc says of one, and killing it without
// killing a stranger whose group took its ID over.

// ProcView names the processes this one can see: the kernel's boot and
// the PID namespace ("" where /proc cannot tell). Two processes with the
// same view see the same processes under the same PIDs; a session records
// its own so that only a process that can see its groups touches them.
func ProcView() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(boot)) + " " + ns
}

// ProcStart is a process's start time, in clock ticks since boot (field
// 22 of /proc/PID/stat), 0 when unknown. A PID and its start time name
// one process for the boot: the leader's start time is how a recorded
// process group is told from a later group given the same ID.
func ProcStart(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	_, _, start, ok := procStatStart(b)
	if !ok {
		return 0
	}
	return start
}

// procStatStart reads state, pgrp and starttime from a /proc/PID/stat
// line.
func procStatStart(b []byte) (state, pgrp string, start uint64, ok bool) {
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return "", "", 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return "", "", 0, false
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return "", "", 0, false
	}
	return f[0], f[2], start, true
}

// GroupState is what this machine can tell of a recorded process group.
type GroupState int

const (
	// GroupGone: no member runs (zombies do not count, as for the state
	// directory's lock table).
	GroupGone GroupState = iota
	// GroupOurs: it runs and is the recorded group: its leader runs (or
	// is a zombie) with the recorded start time, or the leader is gone
	// and every member started after it.
	GroupOurs
	// GroupOther: a group of that ID runs, but a process other than the
	// recorded leader has the leader's PID now. A PID is not given again
	// while a process group of that ID has a member, so the recorded
	// group ended: it is not killed, and holds nothing.
	GroupOther
	// GroupUnknown: it may run, but this machine cannot tell it is the
	// recorded group (no /proc, no recorded start, or a member older
	// than the leader): it is not killed, and is waited for.
	GroupUnknown
)

func (s GroupState) String() string {
	return [...]string{"gone", "running", "another group", "unknown"}[s]
}

// CheckGroup says what runs as process group pgid, recorded with its
// leader's start time (ProcStart; 0 unknown).
func CheckGroup(pgid int, leader uint64) GroupState {
	if pgid <= 1 || !pidExists(-pgid) {
		return GroupGone
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return GroupUnknown
	}
	g := strconv.Itoa(pgid)
	running, older := 0, 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		state, pgrp, start, ok := procStatStart(b)
		if !ok || pgrp != g || state == "Z" || state == "X" {
			continue
		}
		running++
		if start < leader {
			older++
		}
	}
	if running == 0 {
		return GroupGone
	}
	if leader == 0 {
		return GroupUnknown
	}
	if b, err := os.ReadFile("/proc/" + g + "/stat"); err == nil {
		if _, _, start, ok := procStatStart(b); ok {
			if start == leader {
				return GroupOurs
			}
			return GroupOther
		}
		return GroupUnknown
	}
	if older > 0 {
		return GroupUnknown
	}
	return GroupOurs
}

// KillGroup SIGKILLs process group pgid if it is still the recorded one
// (CheckGroup) and waits up to wait for it to be gone. It returns the
// group's state at the end: GroupGone (or GroupOther: the recorded group
// had ended) once nothing of it runs.
func KillGroup(pgid int, leader uint64, wait time.Duration) (GroupState, error) {
	deadline := time.Now().Add(wait)
	pause := time.Millisecond
	for {
		st := CheckGroup(pgid, leader)
		if st != GroupOurs {
			return st, nil
		}
		if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return st, err
		}
		if time.Now().After(deadline) {
			return CheckGroup(pgid, leader), nil
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}
