package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// fullSkeleton is skeleton with a component: a spec that loads cleanly.
const fullSkeleton = skeleton + `component "c" {
  phase    = "p"
  duration = "1m"
  command { argv = ["true"] }
}
`

// deep is n nested list brackets around 1: [[[...1...]]].
func deep(n int) string {
	return strings.Repeat("[", n) + "1" + strings.Repeat("]", n)
}

// wantDiag checks that diags holds an error whose summary is summary, at
// a FILE:LINE:COL in file when file is not empty, and whose detail
// contains detail.
func wantDiag(t *testing.T, diags hcl.Diagnostics, file, summary, detail string) {
	t.Helper()
	for _, d := range diags {
		if d.Severity != hcl.DiagError || d.Summary != summary || !strings.Contains(d.Detail, detail) {
			continue
		}
		if file != "" && (d.Subject == nil || d.Subject.Filename != file || d.Subject.Start.Line < 1 || d.Subject.Start.Column < 1) {
			t.Errorf("%q has no FILE:LINE:COL in %s: %v", summary, file, d.Subject)
		}
		return
	}
	t.Errorf("no error %q (detail containing %q); got %s", summary, detail, diags.Error())
}

// TestNestingLimit: 60,000 nested brackets overflowed the HCL parser's
// stack (a fatal error, not even a panic); every input that is parsed
// is now scanned first, and one nested more than MaxNesting levels is an
// error at the first bracket too deep.
func TestNestingLimit(t *testing.T) {
	limitText := fmt.Sprint(MaxNesting)
	skeleton := fullSkeleton
	dir := writeSpec(t, map[string]string{
		"deep/s.hcl":       skeleton + "locals {\n  x = " + deep(60000) + "\n}\n",
		"blocks/s.hcl":     skeleton + strings.Repeat("locals {\n", 30000),
		"interp/s.hcl":     skeleton + "locals {\n  x = \"${" + deep(60000) + "}\"\n}\n",
		"heredoc/s.hcl":    skeleton + "locals {\n  x = <<EOT\n${" + deep(60000) + "}\nEOT\n}\n",
		"vars/s.hcl":       skeleton + "variable \"v\" { type = list(any) }\n",
		"vars/deep.tfvars": "v = " + deep(60000) + "\n",
		"vars/deep.json":   `{"v": ` + deep(60000) + "}\n",
		"tmpl/s.hcl":       skeleton + "locals {\n  x = templatefile(\"t.tmpl\", {})\n}\n",
		"tmpl/t.tmpl":      "text ${" + deep(60000) + "}\n",
		// Brackets inside strings, comments and heredoc text do not count.
		"fine/s.hcl": skeleton + "locals {\n  a = \"" + strings.Repeat("[", 60000) + "\"\n  # " + strings.Repeat("{", 60000) +
			"\n  /* " + strings.Repeat("(", 60000) + " */\n  b = <<EOT\n" + strings.Repeat("[", 60000) + "\nEOT\n  c = " + deep(MaxNesting-1) + "\n  d = \"$${\"\n}\n",
	})
	for _, tc := range []struct {
		name, spec, file string
		opts             LoadOptions
	}{
		{"spec file", "deep/s.hcl", "deep/s.hcl", LoadOptions{}},
		{"nested blocks", "blocks/s.hcl", "blocks/s.hcl", LoadOptions{}},
		{"interpolation", "interp/s.hcl", "interp/s.hcl", LoadOptions{}},
		{"heredoc", "heredoc/s.hcl", "heredoc/s.hcl", LoadOptions{}},
		{"tfvars", "vars/s.hcl", "vars/deep.tfvars", LoadOptions{VarFiles: []string{filepath.Join(dir, "vars/deep.tfvars")}}},
		{"json var file", "vars/s.hcl", "vars/deep.json", LoadOptions{VarFiles: []string{filepath.Join(dir, "vars/deep.json")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := Load(filepath.Join(dir, tc.spec), tc.opts)
			wantDiag(t, diags, filepath.Join(dir, tc.file), "Nesting too deep", limitText)
		})
	}
	t.Run("template", func(t *testing.T) {
		// The error is the call's, naming the template's position.
		_, diags := Load(filepath.Join(dir, "tmpl/s.hcl"), LoadOptions{})
		wantDiag(t, diags, filepath.Join(dir, "tmpl/s.hcl"), "Error in function call", filepath.Join(dir, "tmpl/t.tmpl")+":1:263: nesting deeper than "+limitText)
	})
	t.Run("--var", func(t *testing.T) {
		_, diags := Load(filepath.Join(dir, "vars/s.hcl"), LoadOptions{Vars: []string{"v=" + deep(60000)}})
		wantDiag(t, diags, "", "Invalid value for variable", limitText)
	})
	t.Run("within the limit", func(t *testing.T) {
		mustLoad(t, filepath.Join(dir, "fine/s.hcl"), LoadOptions{})
	})
}

// yamlBomb is a "billion laughs": each line aliases the previous one
// nine times, so levels lines expand to 9^levels strings.
func yamlBomb(levels int) string {
	var b strings.Builder
	b.WriteString(`l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]` + "\n")
	for i := 1; i < levels; i++ {
		a := fmt.Sprintf("*l%d", i-1)
		fmt.Fprintf(&b, "l%d: &l%d [%s]\n", i, i, strings.Repeat(a+",", 8)+a)
	}
	return b.String()
}

// allocated runs f and returns the bytes it allocated (heap, cumulative).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecodeBounds: yamldecode of a 454-byte alias bomb allocated about
// 8 GB over 40 s (go-cty copies every alias); it is now refused, naming
// the limit, having allocated little. A document within the limit still
// decodes, and jsondecode/yamldecode/csvdecode refuse oversized input.
func TestDecodeBounds(t *testing.T) {
	skeleton := fullSkeleton
	bomb := yamlBomb(9)
	dir := writeSpec(t, map[string]string{
		"s.hcl":     skeleton + "locals {\n  x = yamldecode(file(\"b.yaml\"))\n}\n",
		"b.yaml":    bomb,
		"ok/s.hcl":  skeleton + "locals {\n  x = length(flatten(yamldecode(file(\"b.yaml\")).l4))\n}\n",
		"ok/b.yaml": yamlBomb(5),
	})
	var diags hcl.Diagnostics
	n := allocated(func() { _, diags = Load(filepath.Join(dir, "s.hcl"), LoadOptions{}) })
	wantDiag(t, diags, filepath.Join(dir, "s.hcl"), "Error in function call", fmt.Sprintf("more than %d values", MaxDecodedValues))
	if n > 64<<20 {
		t.Errorf("loading a %d-byte YAML bomb allocated %d MB", len(bomb), n>>20)
	}
	t.Logf("%d-byte bomb: %d KB allocated", len(bomb), n>>10)

	s := mustLoad(t, filepath.Join(dir, "ok/s.hcl"), LoadOptions{})
	if got := s.Locals["x"]; !got.RawEquals(cty.NumberIntVal(9 * 9 * 9 * 9 * 9)) {
		t.Errorf("length of the expanded document = %#v, want 9^5", got)
	}

	huge := cty.StringVal(strings.Repeat(" ", MaxDecodeInput+1))
	for name, fn := range map[string]function.Function{"jsondecode": jsonDecodeFunc, "yamldecode": yamlDecodeFunc, "csvdecode": csvDecodeFunc} {
		_, err := fn.Call([]cty.Value{huge})
		if err == nil || !strings.Contains(err.Error(), sizeMiB(MaxDecodeInput)) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s of %d bytes: err = %v, want the limit named", name, MaxDecodeInput+1, err)
		}
	}
	deepYAML := strings.Repeat("[", MaxNesting+1) + strings.Repeat("]", MaxNesting+1)
	if _, err := yamlDecodeFunc.Call([]cty.Value{cty.StringVal(deepYAML)}); err == nil || !strings.Contains(err.Error(), "levels deep") {
		t.Errorf("yamldecode nested %d deep: err = %v", MaxNesting+1, err)
	}
}

// TestSpecialFiles: file("/dev/zero"), a *.hcl symlink to it, or a FIFO
// in the spec directory were read without end (or blocked forever);
// oversized files were read whole. Each is now refused before it is
// read, at FILE:LINE:COL, naming what it is or the limit.
func TestSpecialFiles(t *testing.T) {
	base := t.TempDir()
	mk := func(name, text string) string {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sparse := func(name string, size int64) string {
		p := mk(name, "")
		if err := os.Truncate(p, size); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := func(name string) string {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fn := func(dir, call string) string {
		return mk(dir+"/s.hcl", fullSkeleton+"locals {\n  x = "+call+"\n}\n")
	}

	mk("link/s.hcl", fullSkeleton)
	if err := os.Symlink("/dev/zero", filepath.Join(base, "link/zero.hcl")); err != nil {
		t.Fatal(err)
	}
	mk("fifo/s.hcl", fullSkeleton)
	fifo("fifo/pipe.hcl")
	mk("big/s.hcl", fullSkeleton)
	sparse("big/huge.hcl", MaxSpecFileSize+1)
	fifo("fn/pipe.txt")
	sparse("fn/huge.txt", MaxReadFileSize+1)
	vars := mk("vars/s.hcl", fullSkeleton+"variable \"v\" {\n  default = 1\n}\n")
	varPipe := fifo("vars/pipe.tfvars")
	varBig := sparse("vars/huge.tfvars", MaxSpecFileSize+1)

	for _, tc := range []struct {
		name, spec, at, summary, detail string
		opts                            LoadOptions
	}{
		{"symlink to /dev/zero", "link", "link/zero.hcl", "Cannot read spec file", "a character device", LoadOptions{}},
		{"fifo in the spec directory", "fifo", "fifo/pipe.hcl", "Cannot read spec file", "a named pipe (FIFO)", LoadOptions{}},
		{"huge spec file", "big", "big/huge.hcl", "Cannot read spec file", "16 MiB", LoadOptions{}},
		{"file(/dev/zero)", fn("fnzero", `file("/dev/zero")`), "fnzero/s.hcl", "Error in function call", "a character device", LoadOptions{}},
		{"filesha256(/dev/urandom)", fn("fnrand", `filesha256("/dev/urandom")`), "fnrand/s.hcl", "Error in function call", "a character device", LoadOptions{}},
		{"file(/dev/stdin)", fn("fnstdin", `file("/dev/stdin")`), "fnstdin/s.hcl", "Error in function call", "not a regular file", LoadOptions{}},
		{"file(fifo)", fn("fn", `file("pipe.txt")`), "fn/s.hcl", "Error in function call", "a named pipe (FIFO)", LoadOptions{}},
		{"templatefile(fifo)", fn("fn2", `templatefile("../fn/pipe.txt", {})`), "fn2/s.hcl", "Error in function call", "a named pipe (FIFO)", LoadOptions{}},
		{"file(huge)", fn("fn3", `file("../fn/huge.txt")`), "fn3/s.hcl", "Error in function call", "16 MiB", LoadOptions{}},
		{"var file fifo", vars, "vars/pipe.tfvars", "Cannot read variables file", "a named pipe (FIFO)", LoadOptions{VarFiles: []string{varPipe}}},
		{"var file /dev/zero", vars, "/dev/zero", "Cannot read variables file", "a character device", LoadOptions{VarFiles: []string{"/dev/zero"}}},
		{"huge var file", vars, "vars/huge.tfvars", "Cannot read variables file", "16 MiB", LoadOptions{VarFiles: []string{varBig}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if fi, err := os.Stdin.Stat(); tc.name == "file(/dev/stdin)" && err == nil && fi.Mode().IsRegular() {
				t.Skip("stdin is a regular file")
			}
			spec := tc.spec
			if !filepath.IsAbs(spec) {
				spec = filepath.Join(base, spec)
			}
			at := tc.at
			if !filepath.IsAbs(at) {
				at = filepath.Join(base, at)
			}
			var diags hcl.Diagnostics
			var s *Spec
			n := allocated(func() { s, diags = Load(spec, tc.opts) })
			if n > 64<<20 {
				t.Errorf("Load allocated %d MB", n>>20)
			}
			wantDiag(t, diags, at, tc.summary, tc.detail)
			// Rendering reads no special file either.
			var sb strings.Builder
			if err := WriteDiagnostics(&sb, diags, s.Sources, false); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestVarFileDiagnosticsHideSource: text diagnostics about a variables
// file quoted the line they were about, which is where a secret sits (a
// sensitive value of the wrong type, an unterminated string, a JSON
// syntax error). They now give FILE:LINE:COL and the message only, in
// text and JSON, and no message quotes the file's text.
func TestVarFileDiagnosticsHideSource(t *testing.T) {
	dir := writeSpec(t, map[string]string{
		"s.hcl": fullSkeleton + `
variable "token" {
  sensitive = true
}
variable "port" {
  type      = number
  sensitive = true
}
variable "ids" {
  type = list(number)
}
`,
		"unterminated.tfvars": "token = \"s3cr3t-unterminated\nport = 1\n",
		"type.tfvars":         "token = \"x\"\nport = \"s3cr3t-type\"\n",
		"keyword.json":        `{"token": s3cr3tkeyword, "port": 1}`,
		"comma.json":          `{"token": "s3cr3t-comma" "port": 1}`,
		"bare.tfvars":         "token = s3cr3t-bare\nport = 1\n",
		"list.tfvars":         "token = \"x\"\nport = [\"s3cr3t-list\"]\n",
		"tuple.tfvars":        "token = \"x\"\nport = 1\nids = [1, \"s3cr3t-elem\"]\n",
	})
	for _, tc := range []struct{ file, secret string }{
		{"unterminated.tfvars", "s3cr3t-unterminated"},
		{"type.tfvars", "s3cr3t-type"},
		{"keyword.json", "s3cr3tkeyword"},
		{"comma.json", "s3cr3t-comma"},
		{"bare.tfvars", "s3cr3t-bare"},
		{"list.tfvars", "s3cr3t-list"},
		{"tuple.tfvars", "s3cr3t-elem"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			s, diags := Load(filepath.Join(dir, "s.hcl"), LoadOptions{VarFiles: []string{path}})
			if !diags.HasErrors() {
				t.Fatal("no error")
			}
			var text, js strings.Builder
			if err := WriteDiagnostics(&text, diags, s.Sources, false); err != nil {
				t.Fatal(err)
			}
			if err := WriteDiagnostics(&js, diags, s.Sources, true); err != nil {
				t.Fatal(err)
			}
			for _, out := range []string{text.String(), js.String()} {
				// Any 4-character piece of the secret is too much.
				for i := 0; i+4 <= len(tc.secret); i++ {
					if strings.Contains(out, tc.secret[i:i+4]) && strings.Contains(tc.secret[i:i+4], "3") {
						t.Fatalf("diagnostics quote %q of the secret:\n%s", tc.secret[i:i+4], out)
					}
				}
			}
			if !strings.Contains(text.String(), path+":") {
				t.Errorf("no FILE:LINE:COL in %s:\n%s", tc.file, text.String())
			}
		})
	}
	t.Run("--var", func(t *testing.T) {
		_, diags := Load(filepath.Join(dir, "s.hcl"), LoadOptions{Vars: []string{"token=x", "port=1", `ids=[1, "s3cr3t-var"`}})
		if strings.Contains(diags.Error(), "s3cr") {
			t.Errorf("diagnostics quote the --var value: %s", diags.Error())
		}
	})
}
