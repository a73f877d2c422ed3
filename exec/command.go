package exec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	osexec "os/exec"
	"path/filepath"
	"sort"

	"github.com/echelonhq/echelon/planner"
)

func init() { RegisterDriver("command", DriverFunc(commandRun)) }

// commandRun runs a command operation: argv exactly as given (never through
// a shell), in dir (relative to the spec directory), with the executor's
// environment plus env, ECHELON_OP, ECHELON_REGION and ECHELON_ACTION. The
// contract has no separate destroy argv, so a destroy plan runs the same
// argv with ECHELON_ACTION=destroy and the command decides what to undo.
func commandRun(ctx context.Context, s Step) error {
	if len(s.Ops) != 1 {
		return fmt.Errorf("command step has %d operations, want 1", len(s.Ops))
	}
	op := s.Ops[0]
	c := op.Command
	if c == nil || len(c.Argv) == 0 {
		return fmt.Errorf("%s: command driver without argv", op.ID)
	}
	cmd := osexec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Dir = s.SpecDir
	if c.Dir != "" {
		cmd.Dir = c.Dir
		if !filepath.IsAbs(c.Dir) {
			cmd.Dir = filepath.Join(s.SpecDir, c.Dir)
		}
	}
	if c.Dir != "" {
		// Else the error would be os/exec's "fork/exec ARGV0: no such
		// file or directory", which blames the program.
		fi, err := os.Stat(cmd.Dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("command dir %s: no such directory", cmd.Dir)
		case err != nil:
			return fmt.Errorf("command dir: %w", err)
		case !fi.IsDir():
			return fmt.Errorf("command dir %s: not a directory", cmd.Dir)
		}
	}
	cmd.Env = commandEnv(s, op)
	tail := &tailBuffer{max: 64 << 10}
	logFile, direct := s.Log.(*os.File)
	if direct {
		// The child writes its log file itself: no pipe, no copying
		// goroutine. The output is read back only on failure.
		cmd.Stdout, cmd.Stderr = logFile, logFile
	} else {
		var out io.Writer = tail
		if s.Log != nil {
			out = io.MultiWriter(s.Log, tail)
		}
		cmd.Stdout, cmd.Stderr = out, out
	}
	// A process group of its own: the first Ctrl-C does not reach it, the
	// second (cancel) stops the whole group.
	inOwnProcessGroup(cmd)
	err := runChild(s, cmd)
	if err == nil {
		return nil
	}
	if direct {
		readTail(logFile.Name(), tail)
	}
	if te, ok := detectThrottle(tail.Bytes()); ok {
		return fmt.Errorf("%s: %v: %w", c.Argv[0], err, te)
	}
	var ee *osexec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%s: %v", c.Argv[0], ee)
	}
	return fmt.Errorf("%s: %w", c.Argv[0], err)
}

func commandEnv(s Step, op *planner.Operation) []string {
	env := make([]string, 0, len(s.Env)+len(op.Command.Env)+3)
	env = append(env, s.Env...)
	keys := make([]string, 0, len(op.Command.Env))
	for k := range op.Command.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+op.Command.Env[k])
	}
	action := s.Action
	if action == "" {
		action = planner.ActionDeploy
	}
	return append(env, "ECHELON_OP="+op.ID, "ECHELON_REGION="+op.Region, "ECHELON_ACTION="+action)
}

// tailBuffer keeps the last max bytes written: enough to find a throttling
// message without holding a chatty tool's whole output in memory.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2*t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte {
	if len(t.b) > t.max {
		return t.b[len(t.b)-t.max:]
	}
	return t.b
}

// readTail loads the end of a log file into t.
func readTail(path string, t *tailBuffer) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > int64(t.max) {
		f.Seek(fi.Size()-int64(t.max), io.SeekStart)
	}
	io.Copy(t, f)
}
