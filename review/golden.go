package review

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/pmezard/go-difflib/difflib"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sim"
)

// Golden predictions are `echelon simulate SPEC --mode M --trials 1000
// --seed 1 --check`: fixed, so a check recomputes the same bytes.
const (
	GoldenTrials = sim.DefaultTrials
	GoldenSeed   = 1
)

// The files of one mode in a golden directory.
var goldenSuffixes = []string{".plan.json", ".plan.txt", ".simulate.txt", ".simulate.json"}

// GoldenDir is where the golden files of the spec at specPath live: beside
// the spec, named for it with ".golden" (specs/app -> specs/app.golden,
// app.hcl -> app.golden). Outside the spec's directory, so they never
// count towards its spec_digest.
func GoldenDir(specPath string) string {
	p := filepath.Clean(specPath)
	if p == "." || p == string(filepath.Separator) {
		if abs, err := filepath.Abs(p); err == nil {
			return filepath.Join(filepath.Dir(abs), filepath.Base(abs)+".golden")
		}
	}
	return strings.TrimSuffix(p, ".hcl") + ".golden"
}

// GoldenFiles compiles the spec for each of modes (every mode when modes is
// empty) and returns the golden files by name: MODE.plan.json (the plan as
// compile writes it), MODE.plan.txt (show), MODE.simulate.txt and
// MODE.simulate.json (simulate --check). Compile errors come back as
// diagnostics.
func GoldenFiles(spec *lang.Spec, modes []string) (map[string][]byte, hcl.Diagnostics, error) {
	if len(modes) == 0 {
		for _, m := range spec.Modes {
			modes = append(modes, m.Name)
		}
	}
	name := ""
	if spec.Deployment != nil {
		name = spec.Deployment.Name
	}
	files := map[string][]byte{}
	var diags hcl.Diagnostics
	for _, m := range modes {
		p, d := planner.Compile(spec, planner.Options{Mode: m})
		diags = append(diags, d...)
		if d.HasErrors() || p == nil {
			continue
		}
		b, err := p.Marshal()
		if err != nil {
			return nil, diags, fmt.Errorf("mode %s: %w", m, err)
		}
		var txt bytes.Buffer
		if err := p.WriteText(&txt); err != nil {
			return nil, diags, fmt.Errorf("mode %s: %w", m, err)
		}
		r, err := sim.Simulate(p, sim.Options{Trials: GoldenTrials, Seed: GoldenSeed, Recommend: true, Overhead: sim.DefaultOverhead()})
		if err != nil {
			return nil, diags, fmt.Errorf("simulate mode %s: %w", m, err)
		}
		checks := sim.CheckBudgets(p.Budgets, []*sim.Result{r})
		var st, sj bytes.Buffer
		if err := sim.WriteText(&st, name, []*sim.Result{r}, checks); err != nil {
			return nil, diags, err
		}
		if err := sim.WriteJSON(&sj, name, []*sim.Result{r}, checks); err != nil {
			return nil, diags, err
		}
		files[p.Mode.Name+".plan.json"] = b
		files[p.Mode.Name+".plan.txt"] = txt.Bytes()
		files[p.Mode.Name+".simulate.txt"] = st.Bytes()
		files[p.Mode.Name+".simulate.json"] = sj.Bytes()
	}
	return files, diags, nil
}

// goldenFile says whether name is a file golden writes.
func goldenFile(name string) bool {
	for _, s := range goldenSuffixes {
		if strings.HasSuffix(name, s) && len(name) > len(s) {
			return true
		}
	}
	return false
}

// existing lists the golden files in dir (none when dir is missing).
func existing(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && goldenFile(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// CheckGolden compares files with dir and returns a unified diff of every
// difference (nil when dir is fresh): a changed file, one missing from dir
// and, when all is set (every mode was compiled), a golden file in dir no
// mode writes any more.
func CheckGolden(dir string, files map[string][]byte, all bool) ([]byte, error) {
	have, err := existing(dir)
	if err != nil {
		return nil, err
	}
	names := slices.Sorted(maps.Keys(files))
	var out bytes.Buffer
	for _, n := range names {
		path := filepath.Join(dir, n)
		old, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		oldName := path + " (committed)"
		if err != nil {
			oldName = "/dev/null"
		}
		out.Write(unified(oldName, old, path+" (now)", files[n]))
	}
	if all {
		for _, n := range have {
			if _, ok := files[n]; ok {
				continue
			}
			path := filepath.Join(dir, n)
			old, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			out.Write(unified(path+" (committed)", old, "/dev/null", nil))
		}
	}
	if out.Len() == 0 {
		return nil, nil
	}
	return out.Bytes(), nil
}

// UpdateGolden writes files into dir (creating it) and, when all is set,
// removes the golden files no mode writes any more. It returns the names
// it wrote or removed because they changed.
func UpdateGolden(dir string, files map[string][]byte, all bool) (changed []string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for n, b := range files {
		path := filepath.Join(dir, n)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
			continue
		}
		if err := writeAtomic(path, b); err != nil {
			return nil, err
		}
		changed = append(changed, n)
	}
	if all {
		have, err := existing(dir)
		if err != nil {
			return nil, err
		}
		for _, n := range have {
			if _, ok := files[n]; !ok {
				if err := os.Remove(filepath.Join(dir, n)); err != nil {
					return nil, err
				}
				changed = append(changed, n)
			}
		}
	}
	slices.Sort(changed)
	return changed, nil
}

// writeAtomic writes b to path through a temporary file and a rename, so
// an interrupted update leaves the old file or the new one.
func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".golden-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("golden: %w", err)
	}
	return nil
}

// unified is a minimal unified diff (3 lines of context) of old and new, or
// nothing when they are equal. difflib's matcher rather than an anchored
// diff: a plan repeats lines ("resources": 0,) that an anchored diff shows
// as removed and added again around every change.
func unified(oldName string, old []byte, newName string, new []byte) []byte {
	if bytes.Equal(old, new) {
		return nil
	}
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(old)), B: difflib.SplitLines(string(new)),
		FromFile: oldName, ToFile: newName, Context: 3,
	})
	if err != nil {
		return []byte(err.Error() + "\n") // difflib's writer is a strings.Builder: it cannot fail
	}
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return []byte("diff " + oldName + " " + newName + "\n" + text)
}
