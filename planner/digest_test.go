package planner

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/lang"
	"github.com/zclconf/go-cty/cty"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tfSpec is a spec in dir whose terraform root module calls a local module.
func tfSpec(t *testing.T, dir string) *lang.Spec {
	write(t, filepath.Join(dir, "spec.hcl"), "# the spec text\n")
	write(t, filepath.Join(dir, "tf", "main.tf"), "module \"region\" {\n  source = \"../modules/region\"\n}\n")
	write(t, filepath.Join(dir, "modules", "region", "main.tf"), "resource \"null_resource\" \"x\" {}\n")
	c := comp("infra", "p", regions("eu", "us"))
	c.Driver = lang.DriverTerraform
	for _, in := range c.Instances {
		in.Command = nil
		in.Terraform = &lang.Terraform{Dir: "tf", Target: `module.region["` + in.Region + `"]`,
			Vars: map[string]cty.Value{"region": cty.StringVal(in.Region)}}
	}
	s := mkspec(nil, []string{"p"}, c)
	s.Path = dir
	s.Dir = dir
	s.Files = []string{filepath.Join(dir, "spec.hcl")}
	return s
}

func TestSpecDigestCoversModuleDirs(t *testing.T) {
	dir := t.TempDir()
	s := tfSpec(t, dir)
	p, diags := Compile(s, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if err := CheckFresh(p, s); err != nil {
		t.Fatalf("fresh plan reported stale: %v", err)
	}
	// Terraform's working files do not count.
	write(t, filepath.Join(dir, "tf", ".terraform", "modules", "modules.json"), "{}")
	write(t, filepath.Join(dir, "tf", "terraform.tfstate"), "{}")
	write(t, filepath.Join(dir, "tf", ".terraform.lock.hcl"), "# lock")
	if err := CheckFresh(p, s); err != nil {
		t.Fatalf("terraform working files made the plan stale: %v", err)
	}
	for _, tc := range []struct{ file, want string }{
		{"modules/region/main.tf", "changed: modules/region/main.tf"},
		{"tf/variables.tf", "added: tf/variables.tf"},
		{"spec.hcl", "changed: spec.hcl"},
	} {
		write(t, filepath.Join(dir, tc.file), "# edited\n")
		d, err := SpecDigest(s)
		if err != nil {
			t.Fatal(err)
		}
		if d == p.SpecDigest {
			t.Errorf("editing %s left spec_digest unchanged", tc.file)
		}
		err = CheckFresh(p, s)
		var stale *StaleError
		if !errors.As(err, &stale) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("editing %s: got %v, want %q", tc.file, err, tc.want)
		}
		p, _ = Compile(s, Options{}) // the next edit is checked on its own
	}
}

func TestSpecDigestVariables(t *testing.T) {
	s := mkspec(nil, []string{"p"}, comp("a", "p"))
	s.Variables = []*lang.Variable{{Name: "n", Value: cty.NumberIntVal(1)}, {Name: "pw", Sensitive: true, Value: cty.StringVal("one")}}
	p, _ := Compile(s, Options{})
	s.Variables[0].Value = cty.NumberIntVal(2)
	err := CheckFresh(p, s)
	if err == nil || !strings.Contains(err.Error(), "variables with other values: n") {
		t.Errorf("changed variable: %v", err)
	}
	s.Variables[0].Value = cty.NumberIntVal(1)
	s.Variables[1].Value = cty.StringVal("two")
	err = CheckFresh(p, s)
	if err == nil || !strings.Contains(err.Error(), "a sensitive variable has another value") {
		t.Errorf("changed sensitive variable: %v", err)
	}
}

func TestSensitiveNeverWritten(t *testing.T) {
	const secret = "hunter2-correct-horse"
	dir := t.TempDir()
	s := tfSpec(t, dir)
	s.Variables = []*lang.Variable{{Name: "client_secret", Sensitive: true, Value: cty.StringVal(secret).Mark("sensitive")}}
	for _, in := range s.Components[0].Instances {
		in.Terraform.Vars["client_secret"] = cty.StringVal(secret).Mark("sensitive")
		in.Terraform.Vars["nested"] = cty.ObjectVal(map[string]cty.Value{"a": cty.StringVal("x"), "b": cty.StringVal(secret).Mark("sensitive")})
	}
	// A command that got the value without its mark (string template).
	c := comp("cmd", "p")
	c.Instances[0].Command.Argv = []string{"login", "--password=" + secret}
	c.Instances[0].Command.Env = map[string]string{"TOKEN": secret}
	s.Components = append(s.Components, c)
	p, diags := Compile(s, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	out, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte(secret)) {
		t.Fatalf("plan contains the secret:\n%s", out)
	}
	for _, want := range []string{`"client_secret": "(sensitive)"`, `"nested": "(sensitive)"`, `"--password=` /* absent */} {
		if got := bytes.Contains(out, []byte(want)); got == (want == `"--password=`) {
			t.Errorf("plan: %q present=%v", want, got)
		}
	}
	if !bytes.Contains(out, []byte(`"sensitive": [`+"\n"+`      "client_secret"`)) {
		t.Errorf("spec.sensitive does not list client_secret")
	}
}

func TestMarshalParseRoundTrip(t *testing.T) {
	s := mkspec(nil, []string{"p"}, comp("a", "p", regions("eu", "us")), comp("b", "p", deps("a")))
	p, diags := Compile(s, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	out, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(out, []byte("}\n")) || bytes.Contains(out, []byte("null")) {
		t.Errorf("want trailing newline and no nulls:\n%s", out)
	}
	q, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	again, err := q.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, again) {
		t.Errorf("parse + marshal changed the bytes:\n%s\n---\n%s", out, again)
	}

	edited := bytes.Replace(out, []byte(`"priority": 0`), []byte(`"priority": 1`), 1)
	if _, err := Parse(edited); err == nil || !strings.Contains(err.Error(), "plan_digest does not match") {
		t.Errorf("edited plan: %v", err)
	}
	// The digest itself edited: another value, an escaped quote in it,
	// the field laid out otherwise.
	at := bytes.Index(out, []byte(`"sha256:`+p.PlanDigest[len("sha256:"):]))
	for _, tc := range []struct{ name, digest, want string }{
		{"other digest", `"sha256:00"`, "plan_digest does not match"},
		{"escaped quote", `"sha256:\"00"`, "not where echelon compile writes it"},
		{"spaced", ` "` + p.PlanDigest + `"`, "not where echelon compile writes it"},
	} {
		b := append(append(slices.Clip(out[:at]), tc.digest...), out[at+len(p.PlanDigest)+2:]...)
		if _, err := Parse(b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	future := bytes.Replace(out, []byte(`"format_version": "1"`), []byte(`"format_version": "9"`), 1)
	if _, err := Parse(future); err == nil || !strings.Contains(err.Error(), `format_version "9" is not supported`) {
		t.Errorf("future plan: %v", err)
	}
	if _, err := Parse([]byte(`{"x": 1}`)); err == nil || !strings.Contains(err.Error(), "no format_version") {
		t.Errorf("not a plan: %v", err)
	}
}

func TestSpecDigestCoversCommandScripts(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spec.hcl"), "# spec\n")
	write(t, filepath.Join(dir, "scripts", "deploy.sh"), "#!/bin/sh\necho v1\n")
	write(t, filepath.Join(dir, "k8s", "app.yaml"), "kind: ConfigMap\n")
	script := comp("deploy", "p")
	script.Instances[0].Command.Argv = []string{"./scripts/deploy.sh", "--now"}
	onPath := comp("tool", "p")
	onPath.Instances[0].Command.Argv = []string{"kubectl", "version"}
	kube := comp("kube", "p")
	kube.Driver = lang.DriverKubectl
	kube.Instances[0].Command = nil
	kube.Instances[0].Kubectl = &lang.Kubectl{Manifests: []string{"k8s/app.yaml", "https://example.com/crd.yaml"}}
	s := mkspec(nil, []string{"p"}, script, onPath, kube)
	s.Path, s.Dir, s.Files = dir, dir, []string{filepath.Join(dir, "spec.hcl")}
	p, diags := Compile(s, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var files []string
	for f := range p.Spec.FileDigests {
		files = append(files, f)
	}
	sort.Strings(files)
	if want := []string{"k8s/app.yaml", "scripts/deploy.sh", "spec.hcl"}; !slices.Equal(files, want) {
		t.Errorf("file_digests cover %v, want %v", files, want)
	}
	write(t, filepath.Join(dir, "scripts", "deploy.sh"), "#!/bin/sh\necho v2\n")
	if err := CheckFresh(p, s); err == nil || !strings.Contains(err.Error(), "changed: scripts/deploy.sh") {
		t.Errorf("edited script: %v", err)
	}
}

// A terraform dir "." puts the spec's own directory under the digest: the
// plan saved there, its copies under other names, echelon state dirs
// (default or --state), dot-directories and terraform state must not make
// the plan stale; other files there still count.
func TestSpecDigestSkipsPlansAndState(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spec.hcl"), "# spec\n")
	write(t, filepath.Join(dir, "main.tf"), "resource \"null_resource\" \"x\" {}\n")
	c := comp("infra", "p")
	c.Driver = lang.DriverTerraform
	c.Instances[0].Command = nil
	c.Instances[0].Terraform = &lang.Terraform{Dir: "."}
	s := mkspec(nil, []string{"p"}, c)
	s.Path, s.Dir, s.Files = dir, dir, []string{filepath.Join(dir, "spec.hcl")}
	p, diags := Compile(s, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "p.json"), string(b))
	write(t, filepath.Join(dir, "plans", "copy.txt"), string(b)) // detected by content
	write(t, filepath.Join(dir, ".echelon", "runs", "abc", "journal.jsonl"), "{}\n")
	write(t, filepath.Join(dir, "state", "locks", "table.json"), "{}")
	write(t, filepath.Join(dir, "state", "runs", "abc", "journal.jsonl"), "{}\n")
	write(t, filepath.Join(dir, "other", "runs", "x", "journal.jsonl"), "{}\n")
	write(t, filepath.Join(dir, ".git", "HEAD"), "ref: refs/heads/main\n")
	write(t, filepath.Join(dir, "terraform.tfstate.backup"), "{}")
	if err := CheckFresh(p, s); err != nil {
		t.Fatalf("plan, state or dot-dirs made the plan stale: %v", err)
	}
	if !IsPlanJSON(b) || IsPlanJSON([]byte(`{"plan_digest": "x", "format_version": "1"}`)) || IsPlanJSON([]byte(`{"format_version": "1"}`)) {
		t.Error("IsPlanJSON misclassifies")
	}
	// A JSON file that is not a plan is the deployment's.
	write(t, filepath.Join(dir, "vars.json"), `{"format_version": "1"}`)
	if err := CheckFresh(p, s); err == nil || !strings.Contains(err.Error(), "added: vars.json") {
		t.Errorf("a non-plan JSON file: got %v, want added: vars.json", err)
	}
}

// Files read by the spec's functions (lang lists them in Spec.ReadFiles)
// are under spec_digest: edited or created, the plan is stale.
func TestSpecDigestCoversReadFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spec.hcl"), "# spec\n")
	write(t, filepath.Join(dir, "values.yaml"), "a: 1\n")
	s := mkspec(nil, []string{"p"}, comp("a", "p"))
	s.Path, s.Dir, s.Files = dir, dir, []string{filepath.Join(dir, "spec.hcl")}
	s.ReadFiles = []string{filepath.Join(dir, "values.yaml"), filepath.Join(dir, "optional.txt")}
	p, diags := Compile(s, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if p.Spec.FileDigests["optional.txt"] != "missing" || p.Spec.FileDigests["values.yaml"] == "" {
		t.Fatalf("file_digests %v: want values.yaml and optional.txt (missing)", p.Spec.FileDigests)
	}
	write(t, filepath.Join(dir, "values.yaml"), "a: 2\n")
	if err := CheckFresh(p, s); err == nil || !strings.Contains(err.Error(), "changed: values.yaml") {
		t.Errorf("edited values.yaml: %v", err)
	}
	write(t, filepath.Join(dir, "values.yaml"), "a: 1\n")
	write(t, filepath.Join(dir, "optional.txt"), "now here\n")
	if err := CheckFresh(p, s); err == nil || !strings.Contains(err.Error(), "changed: optional.txt") {
		t.Errorf("created optional.txt: %v", err)
	}
}
