package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// TestTerraformFunctions: the functions Terraform users expect, with
// Terraform's results; file paths are relative to the spec directory.
func TestTerraformFunctions(t *testing.T) {
	dir := writeSpec(t, map[string]string{
		"spec/main.hcl": skeleton + `
component "c" {
  phase = "p"
  command { argv = ["true"] }
}`,
		"spec/files/data.txt": "hello\n",
		"spec/app.tmpl":       "app=${name}%{ for r in regions } ${upper(r)}%{ endfor }",
		"spec/nested.tmpl":    `${templatefile("app.tmpl", {name = "x", regions = []})}`,
	})
	spec := filepath.Join(dir, "spec")
	for _, tc := range []struct {
		expr string
		want cty.Value
	}{
		{`file("files/data.txt")`, cty.StringVal("hello\n")},
		{`trimspace(file("./files/data.txt"))`, cty.StringVal("hello")},
		{`templatefile("app.tmpl", { name = "web", regions = ["eu", "us"] })`, cty.StringVal("app=web EU US")},
		{`fileexists("files/data.txt")`, cty.True},
		{`fileexists("files/nope.txt")`, cty.False},
		{`filesha256("files/data.txt")`, cty.StringVal("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03")},
		{`filebase64("files/data.txt")`, cty.StringVal("aGVsbG8K")},
		{`basename("a/b/c.txt")`, cty.StringVal("c.txt")},
		{`dirname("a/b/c.txt")`, cty.StringVal("a/b")},
		{`sha256("hello")`, cty.StringVal("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")},
		{`sha1("hello")`, cty.StringVal("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d")},
		{`md5("hello")`, cty.StringVal("5d41402abc4b2a76b9719d911017c592")},
		{`base64encode("hello")`, cty.StringVal("aGVsbG8=")},
		{`base64decode("aGVsbG8=")`, cty.StringVal("hello")},
		{`sum([1, 2, 3.5])`, cty.NumberFloatVal(6.5)},
		{`one([])`, cty.NullVal(cty.DynamicPseudoType)},
		{`one(["x"])`, cty.StringVal("x")},
		{`alltrue([true, true])`, cty.True},
		{`alltrue([])`, cty.True},
		{`alltrue([true, false])`, cty.False},
		{`anytrue([false, true])`, cty.True},
		{`anytrue([])`, cty.False},
		{`startswith("hello", "he")`, cty.True},
		{`endswith("hello", "he")`, cty.False},
		{`strcontains("hello", "ell")`, cty.True},
		{`index(["a", "b", "c"], "b")`, cty.NumberIntVal(1)},
		{`replace("a-b-c", "-", "_")`, cty.StringVal("a_b_c")},
		{`replace("eu-west-1", "/-(\\d)$/", "_$1")`, cty.StringVal("eu-west_1")},
		{`nonsensitive(sensitive("x"))`, cty.StringVal("x")},
		{`yamlencode({ a = 1 })`, cty.StringVal("\"a\": 1\n")},
		{`yamldecode("a: [1, 2]").a[1]`, cty.NumberIntVal(2)},
		{`setsymmetricdifference(["a", "b"], ["b", "c"])`, cty.SetVal([]cty.Value{cty.StringVal("a"), cty.StringVal("c")})},
		{`urlencode("a b&c")`, cty.StringVal("a+b%26c")},
		{`strrev("abc")`, cty.StringVal("cba")},
		{`title("hello world")`, cty.StringVal("Hello World")},
		{`slice(["a", "b", "c"], 1, 3)`, cty.TupleVal([]cty.Value{cty.StringVal("b"), cty.StringVal("c")})},
		{`zipmap(["a"], [1])`, cty.ObjectVal(map[string]cty.Value{"a": cty.NumberIntVal(1)})},
		{`log(8, 2)`, cty.NumberIntVal(3)},
		{`tolist(toset(["b", "a", "b"]))`, cty.ListVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")})},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			path := filepath.Join(spec, "locals.hcl")
			writeFile(t, path, "locals {\n  v = "+tc.expr+"\n}\n")
			s, diags := Load(spec, LoadOptions{})
			if diags.HasErrors() {
				t.Fatalf("diags = %v", diags)
			}
			got := s.Locals["v"]
			if got.IsMarked() {
				t.Fatalf("%s is marked: %#v", tc.expr, got)
			}
			if !got.RawEquals(tc.want) && !(got.Type().Equals(tc.want.Type()) && got.Equals(tc.want).True()) {
				t.Errorf("%s = %#v, want %#v", tc.expr, got, tc.want)
			}
		})
	}
}

// TestTerraformFunctionErrors: Terraform's errors, where go-cty's
// functions of the same name would have given another result.
func TestTerraformFunctionErrors(t *testing.T) {
	dir := writeSpec(t, map[string]string{"spec/main.hcl": skeleton + `
component "c" {
  phase = "p"
  command { argv = ["true"] }
}`,
		"spec/loop.tmpl": `${templatefile("loop.tmpl", {})}`,
		"spec/vars.tmpl": `${missing}`,
	})
	spec := filepath.Join(dir, "spec")
	for _, tc := range []struct{ expr, want string }{
		{`index(["a"], "z")`, "item not found"},
		{`index([], "z")`, "cannot search an empty list"},
		{`sum([])`, "cannot sum an empty list"},
		{`one(["a", "b"])`, "either zero or one elements"},
		{`file("nope.txt")`, "no file exists at " + filepath.Join(spec, "nope.txt")},
		{`base64decode("!!")`, "not valid Base64"},
		{`templatefile("loop.tmpl", {})`, "cannot recursively call templatefile"},
		{`templatefile("vars.tmpl", {})`, `vars map does not contain key "missing"`},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			writeFile(t, filepath.Join(spec, "locals.hcl"), "locals {\n  v = "+tc.expr+"\n}\n")
			_, diags := Load(spec, LoadOptions{})
			if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.want) {
				t.Errorf("diags = %v, want an error with %q", diags, tc.want)
			}
		})
	}
}

// TestReadFiles: the files functions read or looked for are listed, so
// the planner can digest them.
func TestReadFiles(t *testing.T) {
	dir := writeSpec(t, map[string]string{"spec/main.hcl": skeleton + `
locals {
  motd = file("motd.txt")
  has  = fileexists("maybe.txt")
}
component "c" {
  phase = "p"
  command { argv = ["echo", local.motd, templatefile("t.tmpl", { x = 1 })] }
}`,
		"spec/motd.txt": "hi",
		"spec/t.tmpl":   "${x}",
	})
	s := mustLoad(t, filepath.Join(dir, "spec", "main.hcl"), LoadOptions{})
	want := []string{
		filepath.Join(dir, "spec", "maybe.txt"),
		filepath.Join(dir, "spec", "motd.txt"),
		filepath.Join(dir, "spec", "t.tmpl"),
	}
	if strings.Join(s.ReadFiles, "\n") != strings.Join(want, "\n") {
		t.Errorf("ReadFiles = %q, want %q", s.ReadFiles, want)
	}
}

// TestSensitiveFunction: sensitive() marks a value like a sensitive
// variable, so it is refused where a name goes.
func TestSensitiveFunction(t *testing.T) {
	dir := writeSpec(t, map[string]string{"s.hcl": skeleton + `
component "c" {
  phase    = "p"
  regions  = [sensitive("eu")]
  duration = "1m"
  command { argv = ["echo", sensitive("ok here")] }
}`})
	_, diags := Load(dir, LoadOptions{})
	if got := summaries(diags); strings.Join(got, ";") != "Sensitive value not allowed here" {
		t.Errorf("diags = %q", got)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
