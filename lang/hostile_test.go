package lang

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// hostileTiming turns on the per-case wall-time check of TestHostileSpecs
// (off by default: a loaded machine must not fail `go test`):
//
//	go test ./lang -run TestHostileSpecs -hostile.timing
var hostileTiming = flag.Bool("hostile.timing", false, "TestHostileSpecs: fail a case that takes over 5 s")

// hostileMemLimit is what one hostile case may allocate in all.
const hostileMemLimit = 256 << 20

// hostileCase is one hostile spec: files written into a fresh directory
// (the spec is s.hcl, or the directory itself with dirSpec), an optional
// setup for what files cannot say (FIFOs, symlinks, sparse files), and
// the load options.
type hostileCase struct {
	name    string
	files   map[string]string
	setup   func(t *testing.T, dir string)
	opts    func(dir string) LoadOptions
	dirSpec bool
}

// comp is a component around body, for cases about one attribute.
func comp(body string) string {
	return fullSkeleton + "component \"h\" {\n  phase = \"p\"\n  duration = \"1m\"\n" + body + "\n}\n"
}

// cmdComp is a command component with one extra attribute line.
func cmdComp(attr string) string {
	return comp(attr + "\n  command { argv = [\"true\"] }")
}

func spec(text string) map[string]string { return map[string]string{"s.hcl": text} }

func varFile(name string) func(string) LoadOptions {
	return func(dir string) LoadOptions { return LoadOptions{VarFiles: []string{filepath.Join(dir, name)}} }
}

func mkfifo(name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := syscall.Mkfifo(filepath.Join(dir, name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func symlink(target, name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func sparseFile(name string, size int64) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := os.Truncate(filepath.Join(dir, name), size); err != nil {
			t.Fatal(err)
		}
	}
}

// hostileCases is the corpus: each must give at least one error at
// FILE:LINE:COL, no panic, and stay under hostileMemLimit.
func hostileCases() []hostileCase {
	var cs []hostileCase
	// add takes a spec's text, or its files.
	add := func(name string, v any) {
		files, ok := v.(map[string]string)
		if !ok {
			files = spec(v.(string))
		}
		cs = append(cs, hostileCase{name: name, files: files})
	}
	local := func(expr string) map[string]string {
		return spec(fullSkeleton + "locals {\n  x = " + expr + "\n}\n")
	}

	// Depth.
	for _, n := range []int{MaxNesting + 1, 10_000, 60_000} {
		add(fmt.Sprintf("depth/list-%d", n), local(deep(n)))
	}
	add("depth/parens", local(strings.Repeat("(", 60_000)+"1"+strings.Repeat(")", 60_000)))
	add("depth/objects", local(strings.Repeat("{a=", 30_000)+"1"+strings.Repeat("}", 30_000)))
	add("depth/unclosed", local(strings.Repeat("[", 100_000)))
	add("depth/blocks", spec(fullSkeleton+strings.Repeat("locals {\n", 50_000)))
	add("depth/interpolation", local(`"${`+deep(60_000)+`}"`))
	add("depth/nested-interpolation", local(strings.Repeat(`"${`, 20_000)+"1"+strings.Repeat(`}"`, 20_000)))
	add("depth/heredoc", local("<<EOT\n${"+deep(60_000)+"}\nEOT"))
	add("depth/template-directive", local(`"%{ if `+deep(60_000)+` }x%{ endif }"`))
	add("depth/mixed", local(strings.Repeat("[{a=(", 20_000)))
	add("depth/function-calls", local(strings.Repeat("abs(", 60_000)+"1"+strings.Repeat(")", 60_000)))
	add("depth/after-unterminated-string", local("\"abc\n  y = "+deep(60_000)))
	add("depth/after-unterminated-interpolation", local("\"${\"\n  y = "+deep(60_000)))
	add("depth/argv", spec(cmdComp("")+"locals {\n  y = "+deep(5_000)+"\n}\n"))
	cs = append(cs,
		hostileCase{name: "depth/tfvars", files: map[string]string{"s.hcl": fullSkeleton + "variable \"v\" {\n  type = any\n}\n", "v.tfvars": "v = " + deep(60_000)}, opts: varFile("v.tfvars")},
		hostileCase{name: "depth/json-var-file", files: map[string]string{"s.hcl": fullSkeleton + "variable \"v\" {\n  type = any\n}\n", "v.json": `{"v": ` + deep(60_000) + "}"}, opts: varFile("v.json")},
		hostileCase{name: "depth/json-unclosed", files: map[string]string{"s.hcl": fullSkeleton + "variable \"v\" {\n  type = any\n}\n", "v.json": `{"v": ` + strings.Repeat("[", 100_000)}, opts: varFile("v.json")},
		hostileCase{name: "depth/template", files: map[string]string{"s.hcl": fullSkeleton + "locals {\n  x = templatefile(\"t.tmpl\", {})\n}\n", "t.tmpl": "${" + deep(60_000) + "}"}},
		hostileCase{name: "depth/yamldecode", files: map[string]string{"s.hcl": fullSkeleton + "locals {\n  x = yamldecode(file(\"d.yaml\"))\n}\n", "d.yaml": strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)}},
		hostileCase{name: "depth/jsondecode", files: map[string]string{"s.hcl": fullSkeleton + "locals {\n  x = jsondecode(file(\"d.json\"))\n}\n", "d.json": strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)}},
	)

	// Size and amplification.
	cs = append(cs,
		hostileCase{name: "size/spec-file", files: spec(fullSkeleton), setup: sparseFile("big.hcl", MaxSpecFileSize+1), dirSpec: true},
		hostileCase{name: "size/var-file", files: spec(fullSkeleton), setup: sparseFile("big.tfvars", MaxSpecFileSize+1), opts: varFile("big.tfvars")},
		hostileCase{name: "size/file()", files: spec(fullSkeleton + "locals {\n  x = file(\"big.txt\")\n}\n"), setup: sparseFile("big.txt", MaxReadFileSize+1)},
		hostileCase{name: "size/filesha256()", files: spec(fullSkeleton + "locals {\n  x = filesha256(\"big.txt\")\n}\n"), setup: sparseFile("big.txt", MaxReadFileSize+1)},
		hostileCase{name: "size/templatefile()", files: spec(fullSkeleton + "locals {\n  x = templatefile(\"big.txt\", {})\n}\n"), setup: sparseFile("big.txt", MaxReadFileSize+1)},
		hostileCase{name: "size/yaml-bomb", files: map[string]string{"s.hcl": fullSkeleton + "locals {\n  x = yamldecode(file(\"b.yaml\"))\n}\n", "b.yaml": yamlBomb(9)}},
		hostileCase{name: "size/yaml-bomb-merge", files: map[string]string{"s.hcl": fullSkeleton + "locals {\n  x = yamldecode(file(\"b.yaml\"))\n}\n", "b.yaml": yamlMergeBomb(24)}},
		hostileCase{name: "size/yaml-bomb-inline", files: spec(fullSkeleton + "locals {\n  x = yamldecode(" + fmt.Sprintf("%q", yamlBomb(8)) + ")\n}\n")},
	)
	add("size/range", local("range(100000000)"))
	add("size/instances", cmdComp("  regions = [for i in range(200) : \"r${i}\"]\n  replicas = 1000"))
	add("size/replicas", cmdComp("  replicas = 100000000"))
	add("size/long-line-error", local(strings.Repeat("a", 1<<20)+" +"))
	add("size/many-errors", spec(fullSkeleton+strings.Repeat("locals {\n  x = undefined_fn()\n}\n", 5_000)))
	add("size/many-duplicates", spec(fullSkeleton+strings.Repeat("phase \"p\" {}\n", 20_000)))
	add("size/many-components", spec(fullSkeleton+manyComponents(5_000)+"component \"bad\" {}\n"))

	// Encodings.
	for name, text := range map[string]string{
		"nul-in-identifier":   fullSkeleton + "loc\x00als {\n}\n",
		"nul-in-string":       fullSkeleton + "locals {\n  x = \"a\x00b\"\n  y = z\n}\n",
		"nul-only":            "\x00\x00\x00\x00",
		"invalid-utf8":        fullSkeleton + "locals {\n  x = \xff\xfe\n}\n",
		"invalid-utf8-string": fullSkeleton + "locals {\n  x = \"\xc3\x28\"\n  y = z\n}\n",
		"overlong-utf8":       fullSkeleton + "locals {\n  x\xc0\xaf = 1\n}\n",
		"surrogate-utf8":      fullSkeleton + "locals {\n  \xed\xa0\x80 = 1\n}\n",
		"utf8-bom-then-error": "\xef\xbb\xbf" + fullSkeleton + "locals {\n  x = y\n}\n",
		"utf16le-bom":         "\xff\xfed\x00e\x00p\x00",
		"utf16be-bom":         "\xfe\xff\x00d\x00e",
		"cr-only":             strings.ReplaceAll(fullSkeleton, "\n", "\r") + "locals {\r x = y\r}\r",
		"control-chars":       fullSkeleton + "locals {\n  x = \x1b[31m\n}\n",
		"zero-width-space":    fullSkeleton + "locals {\n  x\u200b = 1\n  y = x\u200b\n}\n",
		"rtl-override-name":   fullSkeleton + "phase \"p\u202e\" {}\n",
		"unicode-name":        fullSkeleton + "component \"компонент\" {\n  phase = \"p\"\n}\n",
		"emoji-region":        cmdComp("  regions = [\"eu-🔥\"]"),
		"tab-in-name":         fullSkeleton + "mode \"a\tb\" {}\n",
		"newline-in-label":    fullSkeleton + "phase \"a\nb\" {}\n",
		"binary-garbage":      string(garbage(1 << 16)),
	} {
		add("encoding/"+name, spec(text))
	}
	cs = append(cs,
		hostileCase{name: "encoding/var-file-nul", files: map[string]string{"s.hcl": fullSkeleton + "variable \"v\" {\n  default = 1\n}\n", "v.tfvars": "v = \x00\n"}, opts: varFile("v.tfvars")},
		hostileCase{name: "encoding/var-file-invalid-utf8", files: map[string]string{"s.hcl": fullSkeleton + "variable \"v\" {\n  default = 1\n}\n", "v.tfvars": "v = \"\xff\"\nw = 1\n"}, opts: varFile("v.tfvars")},
		hostileCase{name: "encoding/json-var-file-bom", files: map[string]string{"s.hcl": fullSkeleton + "variable \"v\" {\n  default = 1\n}\n", "v.json": "\xef\xbb\xbf{\"v\": [}"}, opts: varFile("v.json")},
		hostileCase{name: "encoding/file()-binary", files: map[string]string{"s.hcl": fullSkeleton + "locals {\n  x = file(\"b.bin\")\n}\n", "b.bin": "\xff\xfe\x00\x01"}},
	)

	// Special files.
	cs = append(cs,
		hostileCase{name: "special/symlink-dev-zero", files: spec(fullSkeleton), setup: symlink("/dev/zero", "zero.hcl"), dirSpec: true},
		hostileCase{name: "special/symlink-dev-urandom", files: spec(fullSkeleton), setup: symlink("/dev/urandom", "rand.hcl"), dirSpec: true},
		hostileCase{name: "special/fifo-spec-file", files: spec(fullSkeleton), setup: mkfifo("pipe.hcl"), dirSpec: true},
		hostileCase{name: "special/symlink-loop", files: spec(fullSkeleton), setup: symlink("loop.hcl", "loop.hcl"), dirSpec: true},
		hostileCase{name: "special/dangling-symlink", files: spec(fullSkeleton), setup: symlink("nowhere.hcl", "gone.hcl"), dirSpec: true},
		hostileCase{name: "special/fifo-var-file", files: spec(fullSkeleton), setup: mkfifo("v.tfvars"), opts: varFile("v.tfvars")},
		hostileCase{name: "special/dev-zero-var-file", files: spec(fullSkeleton), opts: func(string) LoadOptions { return LoadOptions{VarFiles: []string{"/dev/zero"}} }},
		hostileCase{name: "special/directory-var-file", files: map[string]string{"s.hcl": fullSkeleton, "d/x": ""}, opts: varFile("d")},
		hostileCase{name: "special/fifo-file()", files: spec(fullSkeleton + "locals {\n  x = file(\"pipe\")\n}\n"), setup: mkfifo("pipe")},
		hostileCase{name: "special/fifo-templatefile()", files: spec(fullSkeleton + "locals {\n  x = templatefile(\"pipe\", {})\n}\n"), setup: mkfifo("pipe")},
	)
	for _, dev := range []string{"/dev/zero", "/dev/urandom", "/dev/null", "/dev/full"} {
		add("special/file("+dev+")", local(fmt.Sprintf("file(%q)", dev)))
	}
	add("special/filebase64(/dev/zero)", local(`filebase64("/dev/zero")`))
	add("special/file(directory)", local(`file(".")`))
	add("special/file(/proc/self/mem)", local(`file("/proc/self/mem")`))

	// Type confusion.
	for name, attr := range map[string]string{
		"replicas-string":      `  replicas = "three"`,
		"replicas-list":        `  replicas = [3]`,
		"replicas-fraction":    `  replicas = 1.5`,
		"replicas-negative":    `  replicas = -1`,
		"replicas-null-object": `  replicas = { n = 1 }`,
		"regions-string":       `  regions = "eu"`,
		"regions-map":          `  regions = { a = 1 }`,
		"regions-nested":       `  regions = [["eu"]]`,
		"regions-null":         `  regions = [null]`,
		"depends-on-string":    `  depends_on = "component.x"`,
		"depends-on-number":    `  depends_on = [1]`,
		"parallel-string":      `  parallel = "yes"`,
		"restart-number":       `  restart = 2`,
		"on-error-bool":        `  on_error = true`,
		"retries-string":       `  retries = "many"`,
		"calls-list":           `  calls = ["x"]`,
		"resources-string":     `  resources = "lots"`,
		"duration-number-list": `  duration = [1]`,
		"phase-list":           `  phase2 = 1`,
	} {
		add("types/"+name, cmdComp(attr))
	}
	add("types/duration-number", spec(strings.Replace(comp("  command { argv = [\"true\"] }"), `duration = "1m"`, `duration = 60`, 1)))
	add("types/argv-string", comp("  command { argv = \"true\" }"))
	add("types/argv-nested", comp("  command { argv = [[\"true\"]] }"))
	add("types/env-list", comp("  command {\n    argv = [\"true\"]\n    env = [\"A=1\"]\n  }"))
	add("types/terraform-vars-string", comp("  terraform {\n    dir = \".\"\n    vars = \"x\"\n  }"))
	add("types/manifests-string", comp("  kubectl { manifests = \"a.yaml\" }"))
	add("types/variable-default-mismatch", spec(fullSkeleton+"variable \"v\" {\n  type = number\n  default = \"x\"\n}\n"))
	add("types/variable-bad-type", spec(fullSkeleton+"variable \"v\" {\n  type = strng\n}\n"))
	add("types/sensitive-string", spec(fullSkeleton+"variable \"v\" {\n  default = 1\n  sensitive = \"yes\"\n}\n"))
	add("types/tonumber", local(`tonumber("x")`))
	add("types/tobool", local(`tobool("maybe")`))
	add("types/mode-max-parallel-string", spec(strings.Replace(fullSkeleton, `mode "m" {}`, "mode \"m\" {\n  max_parallel = \"lots\"\n}", 1)))
	add("types/api-rate-string", spec(fullSkeleton+"api \"a\" {\n  rate = \"fast\"\n  burst = 1\n}\n"))
	add("types/deployment-attr-list", spec(strings.Replace(fullSkeleton, `deployment "d" {}`, "deployment \"d\" {\n  default_mode = [\"m\"]\n}", 1)))
	add("types/var-file-wrong-type", map[string]string{"s.hcl": fullSkeleton + "variable \"v\" {\n  type = list(number)\n}\n", "v.tfvars": "v = {a = 1}\n"})
	cs[len(cs)-1].opts = varFile("v.tfvars")
	add("types/var-file-block", map[string]string{"s.hcl": fullSkeleton + "variable \"v\" {\n  default = 1\n}\n", "v.tfvars": "v {\n}\n"})
	cs[len(cs)-1].opts = varFile("v.tfvars")

	// Huge numbers.
	for name, attr := range map[string]string{
		"replicas-1e100":         `  replicas = 1e100`,
		"replicas-huge-int":      `  replicas = 99999999999999999999999999999999`,
		"retries-1e18":           `  retries = 1e18`,
		"resources-1e300":        `  resources = 1e300`,
		"calls-huge":             `  calls = { a = 1e40 }`,
		"duration-huge":          `  duration2 = "99999999999999h"`,
		"replicas-tiny-fraction": `  replicas = 1e-400`,
	} {
		add("numbers/"+name, cmdComp(attr))
	}
	add("numbers/duration-overflow", spec(strings.Replace(comp("  command { argv = [\"true\"] }"), `duration = "1m"`, `duration = "9999999999999999h"`, 1)))
	add("numbers/max-parallel-huge", spec(strings.Replace(fullSkeleton, `mode "m" {}`, "mode \"m\" {\n  max_parallel = 1e30\n}", 1)))
	add("numbers/api-burst-huge", spec(fullSkeleton+"api \"a\" {\n  rate = 1\n  burst = 1e300\n}\n"))
	add("numbers/parseint-huge", local(`parseint("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", 36) + "x"`))
	add("numbers/pow-huge", local(`pow(10, 400) + "x"`))

	// Long names.
	long := strings.Repeat("a", 100_000)
	add("names/component", spec(fullSkeleton+"component \""+long+"\" {\n  phase = \"p\"\n  duration = \"1m\"\n  command { argv = [\"true\"] }\n}\n"))
	add("names/phase", spec(fullSkeleton+"phase \""+long+"\" {}\n"))
	add("names/variable", spec(fullSkeleton+"variable \""+long+"-\" {}\n"))
	add("names/region", cmdComp("  regions = [\""+long+"\"]"))
	add("names/local-reference", local("local."+long))
	add("names/undeclared-variable", local("var."+long))
	add("names/attribute", spec(fullSkeleton+"locals {\n}\nphase \"q\" {\n  "+long+" = 1\n}\n"))

	// Cycles and references.
	add("cycles/locals", local("local.y\n  y = local.x"))
	add("cycles/self", local("local.x"))
	add("cycles/long-chain", spec(fullSkeleton+"locals {\n"+localChain(5_000)+"}\n"))
	add("cycles/phase-after", spec(fullSkeleton+"phase \"a\" {\n  after = [phase.b]\n}\nphase \"b\" {\n  after = [phase.a]\n}\n"))
	add("cycles/phase-self", spec(fullSkeleton+"phase \"a\" {\n  after = [phase.a]\n}\n"))
	add("cycles/templatefile-recursion", map[string]string{"s.hcl": fullSkeleton + "locals {\n  x = templatefile(\"t.tmpl\", {})\n}\n", "t.tmpl": `${templatefile("t.tmpl", {})}`})
	add("cycles/undeclared-component", cmdComp("  depends_on = [component.nothing]"))

	// Syntax.
	for name, text := range map[string]string{
		"empty":                  "",
		"only-comments":          "# nothing\n// here\n/* at all */\n",
		"unterminated-block":     fullSkeleton + "locals {\n  x = 1\n",
		"unterminated-string":    fullSkeleton + "locals {\n  x = \"abc\n}\n",
		"unterminated-heredoc":   fullSkeleton + "locals {\n  x = <<EOT\nabc\n",
		"unterminated-comment":   fullSkeleton + "/* never closed\n",
		"unterminated-interp":    fullSkeleton + "locals {\n  x = \"${1 + \"\n}\n",
		"stray-closers":          fullSkeleton + strings.Repeat("}", 10_000),
		"duplicate-attribute":    fullSkeleton + "locals {\n  x = 1\n  x = 2\n}\n",
		"attribute-at-top":       fullSkeleton + "x = 1\n",
		"unknown-block":          fullSkeleton + "resource \"a\" \"b\" {}\n",
		"json-in-hcl-file":       `{"deployment": {"d": {}}}`,
		"equals-storm":           fullSkeleton + "locals {\n  x = " + strings.Repeat("= ", 50_000) + "\n}\n",
		"operators-only":         fullSkeleton + "locals {\n  x = " + strings.Repeat("+", 50_000) + "\n}\n",
		"unary-storm":            fullSkeleton + "locals {\n  x = " + strings.Repeat("!", 50_000) + "\"a\"\n}\n",
		"conditional-chain":      fullSkeleton + "locals {\n  x = " + strings.Repeat("false ? 1 : ", 20_000) + "\"a\" + 1\n}\n",
		"splat-storm":            fullSkeleton + "locals {\n  x = [1]" + strings.Repeat("[*]", 20_000) + " + \"a\"\n}\n",
		"traversal-chain":        fullSkeleton + "locals {\n  x = var" + strings.Repeat(".a", 50_000) + "\n}\n",
		"for-without-expression": fullSkeleton + "locals {\n  x = [for]\n}\n",
	} {
		add("syntax/"+name, spec(text))
	}
	return cs
}

func manyComponents(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "component \"c%d\" {\n  phase = \"p\"\n  duration = \"1s\"\n  command { argv = [\"true\"] }\n}\n", i)
	}
	return b.String()
}

func localChain(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "  l%d = local.l%d\n", i, (i+1)%n)
	}
	return b.String()
}

// garbage is deterministic pseudo-random bytes.
func garbage(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// yamlMergeBomb doubles with "<<" merge keys instead of sequences.
func yamlMergeBomb(levels int) string {
	var b strings.Builder
	b.WriteString("l0: &l0 {a: 1, b: 2}\n")
	for i := 1; i < levels; i++ {
		fmt.Fprintf(&b, "l%d: &l%d {x: *l%d, y: *l%d}\n", i, i, i-1, i-1)
	}
	return b.String()
}

// TestHostileSpecs loads every case of the corpus. Each must give an
// error at FILE:LINE:COL, without panicking, allocating under 256 MB in
// all (runtime.MemStats.TotalAlloc); rendering its diagnostics as text
// and JSON must work too. With -hostile.timing each must also take
// under 5 s. Figures are logged per case (go test -v).
func TestHostileSpecs(t *testing.T) {
	cases := hostileCases()
	if len(cases) < 100 {
		t.Fatalf("the corpus has %d cases, want at least 100", len(cases))
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("two cases named %s", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, text := range tc.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			path := filepath.Join(dir, "s.hcl")
			if tc.dirSpec {
				path = dir
			}
			var opts LoadOptions
			if tc.opts != nil {
				opts = tc.opts(dir)
			}
			var (
				s        *Spec
				diags    hcl.Diagnostics
				text     strings.Builder
				js       strings.Builder
				panicked any
			)
			runtime.GC()
			start := time.Now()
			alloc := allocated(func() {
				defer func() { panicked = recover() }()
				s, diags = Load(path, opts)
				_ = WriteDiagnostics(&text, diags, s.Sources, false)
				_ = WriteDiagnostics(&js, diags, s.Sources, true)
			})
			took := time.Since(start)
			t.Logf("%d diagnostics, %d KB allocated, %v", len(diags), alloc>>10, took.Round(time.Millisecond))
			if panicked != nil {
				t.Fatalf("panic: %v", panicked)
			}
			if alloc > hostileMemLimit {
				t.Errorf("allocated %d MB, over the %d MB limit", alloc>>20, hostileMemLimit>>20)
			}
			if *hostileTiming && took > 5*time.Second {
				t.Errorf("took %v, over 5 s", took)
			}
			for _, d := range diags {
				if d.Severity == hcl.DiagError && d.Subject != nil && d.Subject.Filename != "" && d.Subject.Start.Line >= 1 && d.Subject.Start.Column >= 1 {
					if !strings.Contains(text.String(), fmt.Sprintf("%s:%d:%d: error: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)) {
						t.Errorf("text output lacks FILE:LINE:COL for %q", d.Summary)
					}
					return
				}
			}
			t.Errorf("no error at FILE:LINE:COL; got: %s", diags.Error())
		})
	}
}
