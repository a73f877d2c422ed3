package main

import (
	"context"
	"fmt"
	"time"

	"github.com/echelonhq/echelon/exec"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/store"
)

// previewUse is what an apply makes of the plan's previews: this state
// directory's (applied, its saved plans being here) and a database
// store's summary (`echelon plan --store`, maybe made on another runner).
type previewUse struct {
	// counts is the preview whose counted changes the prediction uses
	// (nil: none); note says whose, for the prediction line.
	counts *exec.Preview
	note   string
	// say is one line for the view ("": nothing to say).
	say string
	// shared is the store's summary, removed once the apply succeeded
	// (the states changed: its saved plans, wherever they are, are stale).
	shared *exec.SharedPreview
	ps     exec.PreviewStore
}

// choosePreview picks the preview apply predicts with: the local one
// (already checked: it is applied), else the store's summary of this
// plan, whose saved plans are on the runner that made it (this one plans
// afresh), if it fits this checkout (Preview.Check). --no-preview removes
// the store's summary too.
func choosePreview(ctx context.Context, st store.Store, plan *planner.Plan, specDir string, local *exec.Preview, noPreview bool) (previewUse, error) {
	var u previewUse
	if local != nil {
		u.counts, u.note = local, "the preview of "+local.Created.Format(time.RFC3339)
	}
	ps, ok := st.(exec.PreviewStore)
	if !ok {
		return u, nil
	}
	u.ps = ps
	if noPreview {
		return u, ps.DeletePreview(ctx, plan.PlanDigest, time.Time{})
	}
	sp, err := exec.ReadSharedPreview(ctx, ps, plan)
	if err != nil || sp == nil {
		return u, err
	}
	u.shared = sp
	made := sp.Created.Format(time.RFC3339)
	switch {
	case local != nil && sp.Describes(local):
	case local != nil:
		u.say = fmt.Sprintf("the store has another preview of this plan (%s, of %s); applying this state directory's own, of %s",
			sp.Where(), made, local.Created.Format(time.RFC3339))
	default:
		if err := sp.Preview.Check(plan, specDir); err != nil {
			u.say = fmt.Sprintf("the store's preview of this plan (%s, of %s) does not fit this checkout (%v): predicting without it", sp.Where(), made, err)
			u.shared = nil // not this apply's to remove
			return u, nil
		}
		u.counts, u.note = sp.Preview, fmt.Sprintf("the preview of %s on %s", made, sp.Host)
		u.say = fmt.Sprintf("the saved plans of the preview of %s are on %s in %s, not in this state directory: terraform plans afresh (the prediction uses the changes the preview counted)",
			made, sp.Host, sp.Dir)
	}
	return u, nil
}

// done removes the store's summary once the apply succeeded.
func (u previewUse) done(ctx context.Context, plan *planner.Plan) error {
	if u.shared == nil {
		return nil
	}
	return u.ps.DeletePreview(ctx, plan.PlanDigest, u.shared.Created)
}
