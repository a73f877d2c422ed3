package exec

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/echelonhq/echelon/store"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/echelonhq/echelon/planner"
)

// A preview (`echelon plan`): the plan walked by the same scheduler as an
// apply, each terraform state planned once with `terraform plan -out`
// (terraform_preview.go) and nothing changed. The saved plans and a
// manifest (preview.json) go in the plan's run directory, under preview/;
// an apply of the same plan then applies those saved plans.

// Changes counts the resources terraform plans to add, change and destroy
// (a replacement is one add and one destroy, as terraform counts it).
type Changes struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
}

// Total is the number of changes.
func (c Changes) Total() int { return c.Add + c.Change + c.Destroy }

func (c *Changes) count(action string) {
	switch action {
	case "create":
		c.Add++
	case "update":
		c.Change++
	case "delete":
		c.Destroy++
	case "replace":
		c.Add++
		c.Destroy++
	}
}

func (c *Changes) plus(d Changes) {
	c.Add += d.Add
	c.Change += d.Change
	c.Destroy += d.Destroy
}

// ResourceChange is one resource a saved plan changes: its address and
// terraform's action (create, update, delete, replace).
type ResourceChange struct {
	Address string `json:"address"`
	Action  string `json:"action"`
}

// PreviewOp is one operation of a preview.
type PreviewOp struct {
	Op     string `json:"op"`
	Driver string `json:"driver"`
	// Previewed: its driver planned it. Operations of drivers without a
	// preview (kubectl, helm, command) are walked but not run; Note says so.
	Previewed bool   `json:"previewed"`
	Note      string `json:"note,omitempty"`
	// Mocked: it was planned with a producer's mock_outputs (the producer
	// had not been applied): applying this preview refuses it once the
	// producer has run, as its variables then differ.
	Mocked bool `json:"mocked,omitempty"`
	// SavedPlan is its state's saved plan, a file name under plans/.
	SavedPlan string `json:"saved_plan,omitempty"`
	Changes
	Resources []ResourceChange `json:"resources,omitempty"`
}

// SavedPlan is one `terraform plan -out` file: every instance of one
// terraform state (dir and workspace), planned together, as an apply of
// the instances' one process would.
type SavedPlan struct {
	File      string   `json:"file"`
	Dir       string   `json:"dir"`
	Workspace string   `json:"workspace"`
	Ops       []string `json:"ops"`
	// DirDigest is the terraform directory's files when it was planned: a
	// changed module makes the preview stale (terraform applies a saved
	// plan's own copy of the configuration without a word).
	DirDigest string `json:"dir_digest"`
	// VarsDigest is the SHA-256 of the variables the plan was made with
	// (sensitive ones included: the saved plan holds them in full anyway).
	VarsDigest string `json:"vars_digest,omitempty"`
	// FileDigest is the SHA-256 of the saved plan file: the summary in a
	// store names the files it counted (preview_stored.go).
	FileDigest string `json:"file_digest,omitempty"`
	Changes
	// Shared are changes under no instance's -target (a dependency
	// terraform plans with them).
	Shared []ResourceChange `json:"shared,omitempty"`
}

// Preview is what `echelon plan` found, as preview.json keeps it.
type Preview struct {
	PlanDigest string    `json:"plan_digest"`
	Deployment string    `json:"deployment"`
	Action     string    `json:"action"`
	Created    time.Time `json:"created"`
	// Complete: every operation was previewed or walked; a preview with
	// failures is kept for reading, and apply refuses it.
	Complete   bool        `json:"complete"`
	Total      Changes     `json:"total"`
	Operations []PreviewOp `json:"operations"`
	SavedPlans []SavedPlan `json:"saved_plans"`
	// Dir is the preview's directory (not in the file).
	Dir string `json:"-"`
}

// PreviewDir is where a plan's preview lives in a state directory.
func PreviewDir(stateDir string, p *planner.Plan) string {
	return filepath.Join(RunDir(stateDir, p), "preview")
}

const previewFile = "preview.json"

// previewState is a run's preview: what a preview run collects, or the
// saved plans an apply applies.
type previewState struct {
	dir      string
	applying bool // an apply of saved plans (else a preview)
	stateOps map[string][]*planner.Operation

	mu     sync.Mutex
	saved  map[string]*SavedPlan // by state key
	ops    map[string]*PreviewOp // by op ID
	stale  map[string]error      // by state key: refused once, refused again
	mocked map[string]bool       // by op ID: planned with mock outputs
}

func newPreviewState(dir string, p *planner.Plan) *previewState {
	ps := &previewState{dir: dir, stateOps: map[string][]*planner.Operation{},
		saved: map[string]*SavedPlan{}, ops: map[string]*PreviewOp{}, stale: map[string]error{}}
	for i := range p.Operations {
		o := &p.Operations[i]
		if k := o.StateKey(); k != "" {
			ps.stateOps[k] = append(ps.stateOps[k], o)
		}
	}
	return ps
}

// record keeps one state's saved plan and its instances' changes.
// noteMocked records that op was planned with mock outputs.
func (ps *previewState) noteMocked(op string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.mocked == nil {
		ps.mocked = map[string]bool{}
	}
	ps.mocked[op] = true
}

func (ps *previewState) record(key string, sp *SavedPlan, ops []PreviewOp) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.saved[key] = sp
	for i := range ops {
		ps.ops[ops[i].Op] = &ops[i]
	}
}

// RunPreview walks a plan as Run does, under the same scheduler, and plans
// each terraform state once with `terraform plan -out` instead of applying
// it (a destroy plan: `plan -destroy`). Other drivers' operations are not
// run: they are listed as not previewed. The saved plans and preview.json
// go in PreviewDir, replacing an earlier preview of the plan. The Result
// is the walk's (a failed terraform plan is a failed operation); an error
// means the preview could not be made at all.
func RunPreview(ctx context.Context, p *planner.Plan, opts Options) (*Preview, *Result, error) {
	if opts.StateDir == "" {
		return nil, nil, errors.New("no state directory")
	}
	dir := PreviewDir(opts.StateDir, p)
	unlock, err := lockPreview(dir)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	for _, sub := range []string{previewFile, "plans", "logs", "journal.jsonl"} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return nil, nil, fmt.Errorf("preview: %w", err)
		}
	}
	// Saved plans hold every variable in full, sensitive ones included.
	if err := os.MkdirAll(filepath.Join(dir, "plans"), 0o700); err != nil {
		return nil, nil, fmt.Errorf("preview: %w", err)
	}
	ps := newPreviewState(dir, p)
	opts.pv = ps
	opts.Store, opts.Locks, opts.Resume, opts.Pacer = nil, nil, false, nil
	r, err := newRunner(ctx, p, opts)
	if err != nil {
		return nil, nil, err
	}
	res, err := r.run(ctx)
	r.close()
	if err != nil {
		return nil, res, err
	}
	pv := ps.manifest(p, res)
	if err := writePreview(dir, pv); err != nil {
		return nil, res, err
	}
	return pv, res, nil
}

// manifest assembles preview.json: operations in plan order, saved plans
// by file name.
func (ps *previewState) manifest(p *planner.Plan, res *Result) *Preview {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	pv := &Preview{PlanDigest: p.PlanDigest, Deployment: p.Deployment, Action: p.Action,
		Created: time.Now().UTC().Truncate(time.Second), Complete: res.OK(), Dir: ps.dir,
		Operations: []PreviewOp{}, SavedPlans: []SavedPlan{}}
	failed := map[string]string{}
	for _, f := range res.Failed {
		failed[f.Op] = f.Error
	}
	for i := range p.Operations {
		o := &p.Operations[i]
		po := PreviewOp{Op: o.ID, Driver: o.Driver}
		switch {
		case ps.ops[o.ID] != nil:
			po = *ps.ops[o.ID]
		case failed[o.ID] != "":
			po.Note = "failed: " + failed[o.ID]
		case o.Driver == "terraform":
			po.Note = "not planned: the preview stopped first"
		default:
			po.Note = "not previewed: the " + o.Driver + " driver has no preview"
		}
		po.Mocked = ps.mocked[o.ID]
		pv.Operations = append(pv.Operations, po)
	}
	for _, sp := range ps.saved {
		pv.SavedPlans = append(pv.SavedPlans, *sp)
		pv.Total.plus(sp.Changes)
	}
	sort.Slice(pv.SavedPlans, func(a, b int) bool { return pv.SavedPlans[a].File < pv.SavedPlans[b].File })
	return pv
}

func writePreview(dir string, pv *Preview) error {
	b, err := json.MarshalIndent(pv, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, previewFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("preview: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, previewFile)); err != nil {
		return fmt.Errorf("preview: %w", err)
	}
	return nil
}

// ReadPreview reads the plan's preview in a state directory
// (fs.ErrNotExist: there is none).
func ReadPreview(stateDir string, p *planner.Plan) (*Preview, error) {
	dir := PreviewDir(stateDir, p)
	b, err := os.ReadFile(filepath.Join(dir, previewFile))
	if err != nil {
		return nil, err
	}
	var pv Preview
	if err := json.Unmarshal(b, &pv); err != nil {
		return nil, fmt.Errorf("preview %s: %w", filepath.Join(dir, previewFile), err)
	}
	pv.Dir = dir
	return &pv, nil
}

// RemovePreview deletes a plan's preview (its saved plans are used up once
// applied).
func RemovePreview(stateDir string, p *planner.Plan) error {
	return os.RemoveAll(PreviewDir(stateDir, p))
}

// StalePreviewError is a preview apply refuses before anything runs: made
// for another plan, incomplete, or a terraform directory changed since.
type StalePreviewError struct {
	Ops    []string // the operations it concerns (none: the whole preview)
	Reason string
}

func (e *StalePreviewError) Error() string {
	if len(e.Ops) == 0 {
		return "the preview " + e.Reason
	}
	return fmt.Sprintf("the preview of %s %s", strings.Join(e.Ops, ", "), e.Reason)
}

// Check says whether the preview can be applied to plan p (its spec in
// specDir): made for this plan, complete, and every saved plan's terraform
// directory as it was when planned.
func (pv *Preview) Check(p *planner.Plan, specDir string) error {
	if pv.PlanDigest != p.PlanDigest {
		return &StalePreviewError{Reason: fmt.Sprintf("was made for plan %s, not %s", pv.PlanDigest, p.PlanDigest)}
	}
	if !pv.Complete {
		var ops []string
		for _, o := range pv.Operations {
			if o.Driver == "terraform" && !o.Previewed {
				ops = append(ops, o.Op)
			}
		}
		return &StalePreviewError{Ops: ops, Reason: "is incomplete (the operations failed or were not planned)"}
	}
	digests := map[string]string{} // a directory's workspaces share its files: read them once
	for _, sp := range pv.SavedPlans {
		d, ok := digests[sp.Dir]
		if !ok {
			var err error
			if d, err = dirDigest(absDir(specDir, sp.Dir)); err != nil {
				return fmt.Errorf("preview: %w", err)
			}
			digests[sp.Dir] = d
		}
		if d != sp.DirDigest {
			return &StalePreviewError{Ops: sp.Ops, Reason: fmt.Sprintf("is stale: the terraform directory %s changed since it was planned", sp.Dir)}
		}
	}
	return nil
}

// Counts is each terraform operation's planned changes (add + change +
// destroy), for the simulator.
func (pv *Preview) Counts() map[string]int {
	m := map[string]int{}
	for _, o := range pv.Operations {
		if o.Previewed {
			m[o.Op] = o.Total()
		}
	}
	return m
}

// applying is the previewState an apply of pv uses.
func (pv *Preview) applying(p *planner.Plan) *previewState {
	ps := newPreviewState(pv.Dir, p)
	ps.applying = true
	for i := range pv.SavedPlans {
		sp := pv.SavedPlans[i]
		ps.saved[stateKey(sp.Dir, sp.Workspace)] = &sp
	}
	for i := range pv.Operations {
		o := pv.Operations[i]
		ps.ops[o.Op] = &o
	}
	return ps
}

func stateKey(dir, ws string) string {
	o := planner.Operation{Terraform: &planner.Terraform{Dir: dir, Workspace: ws}}
	return o.StateKey()
}

func absDir(specDir, dir string) string {
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(specDir, dir)
	}
	return dir
}

// dirDigest hashes a terraform directory's configuration: every file's
// path and content, less what terraform itself writes there (.terraform/,
// state files, terraform.tfstate.d/).
func dirDigest(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != dir && (name == ".terraform" || name == "terraform.tfstate.d" || name == ".git") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(name, "terraform.tfstate") || strings.HasPrefix(name, ".terraform.tfstate") ||
			strings.HasSuffix(name, ".tfplan") || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%s\x00", filepath.ToSlash(rel))
		n, err := io.Copy(h, f)
		fmt.Fprintf(h, "\x00%d\x00", n)
		return err
	})
	if err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// savedPlanName is a state's saved plan file: the state key made a file
// name, with a hash telling keys that read alike apart.
func savedPlanName(key string) string {
	sum := sha256.Sum256([]byte(key))
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, key)
	if len(name) > 100 {
		name = name[:100]
	}
	return name + "-" + hex.EncodeToString(sum[:4]) + ".tfplan"
}

// lockPreview takes the preview directory's flock: one preview, or one
// apply of its saved plans, at a time.
func lockPreview(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("preview: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "preview.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("preview: %w", err)
	}
	if err := store.Flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another preview or apply of this plan's preview is running (%s)", dir)
		}
		return nil, fmt.Errorf("preview: lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// sameOps reports whether a step's operations are exactly ids.
func sameOps(ops []*planner.Operation, ids []string) bool {
	if len(ops) != len(ids) {
		return false
	}
	for _, o := range ops {
		if !slices.Contains(ids, o.ID) {
			return false
		}
	}
	return true
}
