package exec

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Terraform's side of a preview: `terraform plan -out` once per state, and
// an apply of the saved plans.

// terraformPreview plans the step's state: the first step of a state plans
// every instance of it in the plan (one saved plan per state: applying one
// changes the state, and terraform refuses every other plan made of it
// before as stale); later steps of that state find it planned.
func terraformPreview(ctx context.Context, s Step) error {
	op := s.Ops[0]
	if op.Terraform == nil {
		return fmt.Errorf("%s: terraform driver without settings", op.ID)
	}
	key := op.StateKey()
	ran, err := terraformScope(s).do(ctx, "preview\x00"+key, func() error { return planState(ctx, s, key) })
	if err == nil && !ran {
		fmt.Fprintf(s.Log, "echelon: planned earlier in this preview with the other instances of %s\n", key)
	}
	return err
}

// planState runs `terraform plan -out` for every instance of state key and
// records the saved plan and each instance's changes.
func planState(ctx context.Context, s Step, key string) error {
	all := slices.Clone(s.pv.stateOps[key])
	if len(all) == 0 {
		return fmt.Errorf("%s: no operations of state %s in the plan", s.Ops[0].ID, key)
	}
	// The step's own operations as the run resolved them (their outputs
	// filled in); the others of the state as the plan has them.
	for i, o := range all {
		for _, so := range s.Ops {
			if so.ID == o.ID {
				all[i] = so
			}
		}
		if len(all[i].Outputs) > 0 && all[i] == o {
			return fmt.Errorf("%s: reads outputs and shares its terraform state with %s, which a preview plans at once; give it a workspace of its own to preview it", o.ID, s.Ops[0].ID)
		}
	}
	s.Ops = all
	tool, bin, err := terraformBinary(s.Env, all[0].Terraform.Binary)
	if err != nil {
		return fmt.Errorf("%s: %w", all[0].ID, err)
	}
	w, err := prepareTerraform(ctx, s, tool, bin, all[0].Terraform.Dir)
	if err != nil {
		return err
	}
	name := savedPlanName(key)
	file, err := filepath.Abs(filepath.Join(s.pv.dir, "plans", name))
	if err != nil {
		return err
	}
	args := tfPlanArgs(s, file)
	varArg, varsDigest, cleanup, err := varFileArg(s)
	if err != nil {
		return err
	}
	defer cleanup()
	args = append(args, varArg...)
	ev, err := w.runJSON(ctx, s, all, args)
	if err != nil {
		return ev.stepError(err)
	}
	if err := os.Chmod(file, 0o600); err != nil { // it holds every variable in full
		return fmt.Errorf("saved plan: %w", err)
	}
	dd, err := dirDigest(w.dir)
	if err != nil {
		return fmt.Errorf("saved plan: %w", err)
	}
	fd, err := fileDigest(file)
	if err != nil {
		return fmt.Errorf("saved plan: %w", err)
	}
	sp := &SavedPlan{File: name, Dir: all[0].Terraform.Dir, Workspace: all[0].Terraform.Workspace,
		DirDigest: dd, VarsDigest: varsDigest, FileDigest: fd}
	ops := make([]PreviewOp, len(all))
	idx := map[string]int{}
	for i, o := range all {
		sp.Ops = append(sp.Ops, o.ID)
		ops[i] = PreviewOp{Op: o.ID, Driver: o.Driver, Previewed: true, SavedPlan: name, Resources: []ResourceChange{}}
		idx[o.ID] = i
	}
	for _, c := range ev.changes {
		sp.Changes.count(c.Action)
		owner := ev.opFor(c.Address)
		if owner == "" && len(all) == 1 {
			owner = all[0].ID
		}
		if i, ok := idx[owner]; ok {
			ops[i].count(c.Action)
			ops[i].Resources = append(ops[i].Resources, c)
		} else {
			sp.Shared = append(sp.Shared, c)
		}
	}
	s.pv.record(key, sp, ops)
	fmt.Fprintf(s.Log, "echelon: saved plan %s: %d to add, %d to change, %d to destroy (%d instance(s))\n",
		name, sp.Add, sp.Change, sp.Destroy, len(all))
	return nil
}

// varFileArg writes the step's variables to a var file: its -var-file
// argument (none without variables), the variables' digest, and the
// file's removal.
func varFileArg(s Step) (args []string, digest string, cleanup func(), err error) {
	cleanup = func() {}
	vars, digest, err := varsDigest(s)
	if err != nil {
		return nil, "", cleanup, err
	}
	if len(vars) == 0 {
		return nil, digest, cleanup, nil
	}
	path, err := writeVarFile(s.RunDir, vars)
	if err != nil {
		return nil, "", cleanup, err
	}
	return []string{"-var-file=" + path}, digest, func() { os.Remove(path) }, nil
}

// varsDigest is the step's variables and their digest (of the JSON, keys
// sorted), as a saved plan records it.
func varsDigest(s Step) (map[string]any, string, error) {
	vars, err := tfVars(s)
	if err != nil {
		return nil, "", err
	}
	b, err := json.Marshal(vars) // sorted keys
	if err != nil {
		return nil, "", fmt.Errorf("terraform vars: %w", err)
	}
	sum := sha256.Sum256(b)
	return vars, "sha256:" + hex.EncodeToString(sum[:]), nil
}

// applyPreviewed applies the saved plan of the step's state: as it is when
// the step holds exactly the instances it was made for and it was not
// tried before; else (a step of some of them, a retry, a resumed run) a
// fresh plan of the step's targets that may only hold changes the preview
// showed (applyWithin). Terraform's "Saved plan is stale" (the state
// changed since the preview) fails the step, and every later attempt of
// it, without a retry that could help.
func applyPreviewed(ctx context.Context, s Step, w *tfDir) error {
	key := s.Ops[0].StateKey()
	ps := s.pv
	ps.mu.Lock()
	sp, stale := ps.saved[key], ps.stale[key]
	ps.mu.Unlock()
	if stale != nil {
		return stale
	}
	if sp == nil {
		return fmt.Errorf("terraform: %s is not in the preview of this plan; "+PreviewAgain, s.Ops[0].ID)
	}
	file, err := filepath.Abs(filepath.Join(ps.dir, "plans", sp.File))
	if err != nil {
		return err
	}
	used := file + ".used"
	if !sameOps(s.Ops, sp.Ops) || fileExists(used) {
		return applyWithin(ctx, s, w, sp)
	}
	_, digest, err := varsDigest(s) // no var file: the saved plan holds its variables
	if err != nil {
		return err
	}
	if sp.VarsDigest != "" && digest != sp.VarsDigest {
		return ps.markStale(key, fmt.Errorf("terraform: the variables of %s changed since the preview; "+PreviewAgain, strings.Join(sp.Ops, ", ")))
	}
	// Tried once, a saved plan is used up: a failed apply may have changed
	// the state halfway.
	if err := os.WriteFile(used, nil, 0o600); err != nil {
		return fmt.Errorf("saved plan: %w", err)
	}
	fmt.Fprintf(s.Log, "echelon: applying the saved plan %s of the preview\n", sp.File)
	ev, err := w.runJSON(ctx, s, s.Ops, tfApplyArgs(s, file))
	if err == nil {
		return nil
	}
	if strings.Contains(ev.firstError, "Saved plan is stale") {
		return ps.markStale(key, fmt.Errorf("terraform: Saved plan is stale: the state of %s changed since the preview (another apply?); nothing was applied; "+PreviewAgain, describeState(sp)))
	}
	return ev.stepError(err)
}

func describeState(sp *SavedPlan) string {
	ws := sp.Workspace
	if ws == "" {
		ws = "default"
	}
	return fmt.Sprintf("%s (workspace %s)", sp.Dir, ws)
}

func (ps *previewState) markStale(key string, err error) error {
	ps.mu.Lock()
	ps.stale[key] = err
	ps.mu.Unlock()
	return err
}

// applyWithin plans the step's targets afresh and applies that plan only
// if it changes nothing the preview did not show for them (the changes
// already applied are gone from it; a replacement half done reads as its
// create or delete).
func applyWithin(ctx context.Context, s Step, w *tfDir, sp *SavedPlan) error {
	shown := map[string]string{}
	ps := s.pv
	ps.mu.Lock()
	for _, o := range s.Ops {
		if po := ps.ops[o.ID]; po != nil {
			for _, c := range po.Resources {
				shown[c.Address] = c.Action
			}
		}
	}
	ps.mu.Unlock()
	for _, c := range sp.Shared {
		shown[c.Address] = c.Action
	}
	f, err := os.CreateTemp(filepath.Join(ps.dir, "plans"), "step-*.tfplan")
	if err != nil {
		return fmt.Errorf("saved plan: %w", err)
	}
	f.Close()
	file, err := filepath.Abs(f.Name())
	if err != nil {
		return err
	}
	defer os.Remove(file)
	varArg, _, cleanup, err := varFileArg(s)
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Fprintf(s.Log, "echelon: planning %d instance(s) of %s afresh: only the changes the preview showed may be applied\n", len(s.Ops), sp.File)
	ev, err := w.runJSON(ctx, s, s.Ops, append(tfPlanArgs(s, file), varArg...))
	if err != nil {
		return ev.stepError(err)
	}
	var extra []string
	for _, c := range ev.changes {
		a, ok := shown[c.Address]
		if !ok || (a != c.Action && !(a == "replace" && (c.Action == "create" || c.Action == "delete"))) {
			extra = append(extra, c.Action+" "+c.Address)
		}
	}
	if len(extra) > 0 {
		return errors.New("terraform: the preview is stale: terraform now plans changes it did not show (" +
			strings.Join(extra, ", ") + "); nothing was applied; " + PreviewAgain)
	}
	ev, err = w.runJSON(ctx, s, s.Ops, tfApplyArgs(s, file))
	if err != nil {
		return ev.stepError(err)
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
