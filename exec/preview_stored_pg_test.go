package exec

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/store/pgtest"
)

// TestStorePreviewLeavesSecrets: the summary a store keeps has the
// preview's counts and saved plans' file digests, but no variables'
// digest and no secret (masked in notes and addresses); read back, it
// describes the local preview it was made of, and no other.
func TestStorePreviewLeavesSecrets(t *testing.T) {
	st := openPGStore(t, pgtest.URL(t), t.TempDir())
	ctx := context.Background()
	made := time.Date(2026, 12, 2, 1, 30, 0, 0, time.UTC)
	pv := &Preview{PlanDigest: "sha256:pv", Deployment: "d", Action: "deploy", Created: made, Complete: true,
		Dir: t.TempDir(), Total: Changes{Add: 1},
		Operations: []PreviewOp{
			{Op: "net", Driver: "terraform", Previewed: true, SavedPlan: "net-1.tfplan", Changes: Changes{Add: 1},
				Resources: []ResourceChange{{Address: `x["hunter2"]`, Action: "create"}}},
			{Op: "smoke", Driver: "command", Note: "failed: curl -u admin:hunter2"},
		},
		SavedPlans: []SavedPlan{{File: "net-1.tfplan", Dir: "net", Ops: []string{"net"}, DirDigest: "sha256:dir",
			VarsDigest: "sha256:vars-of-hunter2", FileDigest: "sha256:file", Changes: Changes{Add: 1}}}}
	if err := StorePreview(ctx, st, pv, []string{"hunter2"}); err != nil {
		t.Fatal(err)
	}
	raw, err := st.Preview(ctx, "sha256:pv")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"hunter2", "vars_digest", "sha256:vars"} {
		if strings.Contains(string(raw.Summary), bad) {
			t.Errorf("the stored summary holds %q: %s", bad, raw.Summary)
		}
	}
	if raw.Dir != pv.Dir || raw.Host != hostname() || !raw.Created.Equal(made) {
		t.Errorf("stored %+v, want this host, %s, %v", raw, pv.Dir, made)
	}
	sp, err := ReadSharedPreview(ctx, st, &planner.Plan{PlanDigest: "sha256:pv"})
	if err != nil || sp == nil {
		t.Fatal(sp, err)
	}
	if c := sp.Preview.Counts(); len(c) != 1 || c["net"] != 1 || sp.Preview.SavedPlans[0].FileDigest != "sha256:file" {
		t.Errorf("read back: counts %v, saved plans %+v", c, sp.Preview.SavedPlans)
	}
	if !sp.Describes(pv) {
		t.Error("the summary does not describe the preview it was made of")
	}
	other := *pv
	other.SavedPlans = []SavedPlan{pv.SavedPlans[0]}
	other.SavedPlans[0].FileDigest = "sha256:another"
	if sp.Describes(&other) {
		t.Error("the summary describes a preview of other saved plans")
	}
	if none, err := ReadSharedPreview(ctx, st, &planner.Plan{PlanDigest: "sha256:none"}); none != nil || err != nil {
		t.Errorf("no preview: %v %v", none, err)
	}
}
