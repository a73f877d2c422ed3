package exec

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

const tfOutputsSpec = `
deployment "tf-outputs" {}

phase "main" {}

mode "m" {}

component "infra" {
  phase        = phase.main
  regions      = ["a", "b"]
  mock_outputs = { cluster_id = "mock-cluster", token = "mock-token" }
  terraform {
    dir       = "producer"
    workspace = each.region
  }
}

component "app" {
  phase   = phase.main
  regions = ["a", "b"]
  terraform {
    dir       = "consumer"
    workspace = each.region
    vars      = { cluster = output.infra[each.region].cluster_id, token = output.infra[each.region].token }
  }
}

component "report" {
  phase    = phase.main
  regions  = ["a", "b"]
  duration = "1s"
  command {
    argv = ["sh", "-c", "printf '%s %s' \"$1\" \"$TOKEN\" > report-$ECHELON_REGION; echo token=$TOKEN", "sh", output.infra[each.region].cluster_id]
    env  = { TOKEN = output.infra[each.region].token }
  }
}

component "plain" {
  phase    = phase.main
  duration = "1s"
  command {
    argv = ["sh", "-c", "echo \"$@\" > plain", "sh", output.infra["a"].cluster_id, output.infra["b"].cluster_id]
  }
}
`

// outputsRun copies the fixture, compiles the spec and returns what Run
// needs.
func outputsRun(t *testing.T, spec string) (dir string, p *planner.Plan, opts Options) {
	t.Helper()
	terraformBin(t)
	dir = t.TempDir()
	copyDir(t, "testdata/tf-outputs", dir)
	if err := os.WriteFile(filepath.Join(dir, "spec.hcl"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	s, p := compileSpec(t, filepath.Join(dir, "spec.hcl"), nil, planner.Options{})
	rp, secrets, err := RuntimePlan(p, s)
	if err != nil {
		t.Fatal(err)
	}
	return dir, rp, Options{StateDir: filepath.Join(dir, ".echelon"), SpecDir: s.Dir, Spec: s, Secrets: secrets,
		Env: append(os.Environ(), "CHECKPOINT_DISABLE=1")}
}

func mustOK(t *testing.T, res *Result, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Failed {
		log, _ := os.ReadFile(f.Log)
		t.Errorf("%s failed: %s\n%s", f.Op, f.Error, log)
	}
	if !res.OK() {
		t.Fatalf("result: %+v", res)
	}
}

// Real terraform: a producer's outputs reach terraform vars and a
// command's argv and env of the same region; the sensitive one is masked
// in the journal and every log, the plain one is journaled.
func TestOutputsBetweenComponents(t *testing.T) {
	dir, p, opts := outputsRun(t, tfOutputsSpec)
	for _, op := range p.Operations {
		if op.ID == "app/a" && op.Terraform.Vars["cluster"] != "(output infra/a.cluster_id)" {
			t.Fatalf("plan holds %v", op.Terraform.Vars)
		}
	}
	res, err := Run(context.Background(), p, opts)
	mustOK(t, res, err)
	for _, r := range []string{"a", "b"} {
		want := "cluster-" + r + " tok-" + r + "-Sekr3t"
		for _, f := range []string{"consumer/got-" + r, "report-" + r} {
			got, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil || string(got) != want {
				t.Errorf("%s: %q (%v), want %q", f, got, err, want)
			}
		}
	}
	journal, err := os.ReadFile(res.Journal)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(journal), `"kind":"outputs","op":"infra/a"`) || !strings.Contains(string(journal), `"cluster-a"`) {
		t.Errorf("no outputs record for infra/a:\n%s", journal)
	}
	assertNoSecret(t, res, "Sekr3t")
	reportLog, _ := os.ReadFile(filepath.Join(res.RunDir, "logs", "report_a.1.log"))
	if !strings.Contains(string(reportLog), "token="+Masked) {
		t.Errorf("report's log does not show the masked token:\n%s", reportLog)
	}
}

// assertNoSecret fails when the journal or a log holds s.
func assertNoSecret(t *testing.T, res *Result, s string) {
	t.Helper()
	_ = filepath.Walk(res.RunDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), s) {
			t.Errorf("%s holds the secret:\n%s", p, b)
		}
		return nil
	})
}

// A run killed between producer and consumer: --resume gives the
// consumer the producer's outputs without running the producer again, the
// plain one from the journal, the sensitive one read from terraform again
// (the journal never held it). The kill is the journal cut after the
// producers' records, what a kill -9 at that moment leaves, and the
// consumers' work undone (their state and files removed).
func TestOutputsResume(t *testing.T) {
	dir, p, opts := outputsRun(t, tfOutputsSpec)
	res, err := Run(context.Background(), p, opts)
	mustOK(t, res, err)
	b, err := os.ReadFile(res.Journal)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	ended := 0
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if ended == 2 {
			break
		}
		if !strings.Contains(line, `"kind":"run_start"`) && !strings.Contains(line, `"op":"infra/`) {
			continue // no consumer started before the kill
		}
		kept = append(kept, line)
		if strings.Contains(line, `"kind":"op_end"`) && strings.Contains(line, `"op":"infra/`) {
			ended++
		}
	}
	if ended != 2 {
		t.Fatalf("the journal has no end of both producers:\n%s", b)
	}
	if err := os.WriteFile(res.Journal, []byte(strings.Join(kept, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"plain", "report-a", "report-b", "consumer/got-a", "consumer/got-b", "consumer/terraform.tfstate.d"} {
		if err := os.RemoveAll(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	opts.Resume = true
	res, err = Run(context.Background(), p, opts)
	mustOK(t, res, err)
	if len(res.Resumed) != 2 || len(res.Succeeded) != 5 {
		t.Errorf("resumed %v, succeeded %v: want the producers resumed, the five consumers run", res.Resumed, res.Succeeded)
	}
	// plain reads only what the journal holds.
	plainLog, _ := os.ReadFile(filepath.Join(res.RunDir, "logs", "plain.1.log"))
	if !strings.Contains(string(plainLog), "echelon: outputs of infra/a from the journal") || strings.Contains(string(plainLog), "terraform output") {
		t.Errorf("plain's outputs are not the journal's:\n%s", plainLog)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "plain")); string(got) != "cluster-a cluster-b\n" {
		t.Errorf("plain got %q", got)
	}
	for _, r := range []string{"a", "b"} {
		want := "cluster-" + r + " tok-" + r + "-Sekr3t"
		for _, f := range []string{"consumer/got-" + r, "report-" + r} {
			got, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil || string(got) != want {
				t.Errorf("%s: %q (%v), want %q", f, got, err, want)
			}
		}
	}
	assertNoSecret(t, res, "Sekr3t")
	journal, _ := os.ReadFile(res.Journal)
	if strings.Count(string(journal), `"kind":"op_start","op":"infra/`) != 2 {
		t.Errorf("the producers ran again:\n%s", journal)
	}
	// report reads both outputs: the token is masked in the journal, so
	// the producer's outputs are read from terraform again.
	repLog, _ := os.ReadFile(filepath.Join(res.RunDir, "logs", "report_a.1.log"))
	if !strings.Contains(string(repLog), "echelon: outputs of infra/a from terraform output") {
		t.Errorf("the token is not read again from terraform:\n%s", repLog)
	}

}

// A preview (echelon plan) of a deployment whose producers were never
// applied plans the consumers with the mocks; an apply of that preview
// never applies a mock: the consumers' variables differ from the
// preview's, so their saved plans are refused, and the producers apply.
// Previewed again once the producers exist, the apply of the preview
// gives the consumers the real values.
func TestOutputsPreview(t *testing.T) {
	dir, p, opts := outputsRun(t, tfOutputsSpec)
	pv, res, err := RunPreview(context.Background(), p, opts)
	mustOK(t, res, err)
	log, _ := os.ReadFile(filepath.Join(PreviewDir(opts.StateDir, p), "logs", "app_a.1.log"))
	if !strings.Contains(string(log), "output cluster_id of infra/a is not in terraform's state yet: previewed with its mock") {
		t.Errorf("app/a's preview log:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(dir, "consumer", "got-a")); err == nil {
		t.Fatal("the preview applied the consumer")
	}
	applyWith := func(pv *Preview) *Result {
		t.Helper()
		o := opts
		o.Preview = pv
		res, err := Run(context.Background(), p, o)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res = applyWith(pv)
	var failed []string
	for _, f := range res.Failed {
		failed = append(failed, f.Op)
		if !strings.Contains(f.Error, "changed since the preview") {
			t.Errorf("%s: %s", f.Op, f.Error)
		}
	}
	// The first refusal stops the run (on_error "stop"): one or both.
	if len(failed) == 0 || !strings.HasPrefix(failed[0], "app/") || (len(failed) == 2 && failed[1] != "app/b") {
		t.Fatalf("failed %v, want the terraform consumers refused", failed)
	}
	if _, err := os.Stat(filepath.Join(dir, "consumer", "got-a")); err == nil {
		t.Fatal("a mock was applied")
	}

	pv, res, err = RunPreview(context.Background(), p, opts)
	mustOK(t, res, err)
	res = applyWith(pv)
	mustOK(t, res, nil)
	got, _ := os.ReadFile(filepath.Join(dir, "consumer", "got-a"))
	if string(got) != "cluster-a tok-a-Sekr3t" {
		t.Errorf("consumer/got-a: %q", got)
	}
	assertNoSecret(t, res, "Sekr3t")
}

// TestTofuOutputs is TestOutputsBetweenComponents on OpenTofu: `tofu
// output -json` gives the consumers their producer's values (terraform is
// not even found).
func TestTofuOutputs(t *testing.T) {
	tofu := tofuBin(t)
	spec := strings.ReplaceAll(tfOutputsSpec, "    workspace = each.region\n", "    workspace = each.region\n    binary    = \"tofu\"\n")
	if strings.Count(spec, `binary    = "tofu"`) != 2 {
		t.Fatalf("the spec's two terraform blocks did not get a binary:\n%s", spec)
	}
	dir := t.TempDir()
	copyDir(t, "testdata/tf-outputs", dir)
	if err := os.WriteFile(filepath.Join(dir, "spec.hcl"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	s, p := compileSpec(t, filepath.Join(dir, "spec.hcl"), nil, planner.Options{})
	rp, secrets, err := RuntimePlan(p, s)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), rp, Options{StateDir: filepath.Join(dir, ".echelon"), SpecDir: s.Dir, Spec: s, Secrets: secrets,
		Env: append(os.Environ(), "ECHELON_TOFU="+tofu, "ECHELON_TERRAFORM="+filepath.Join(dir, "no-terraform"))})
	mustOK(t, res, err)
	for _, r := range []string{"a", "b"} {
		want := "cluster-" + r + " tok-" + r + "-Sekr3t"
		for _, f := range []string{"consumer/got-" + r, "report-" + r} {
			got, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil || string(got) != want {
				t.Errorf("%s: %q (%v), want %q", f, got, err, want)
			}
		}
	}
	assertNoSecret(t, res, "Sekr3t")
}
