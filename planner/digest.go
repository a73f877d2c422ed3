package planner

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/echelonhq/echelon/lang"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// SpecDigest is "sha256:..." over what a plan was compiled from: the spec
// files' contents (by name), every variable's value (sensitive ones too,
// never written anywhere else), and the contents of every local directory
// or file a driver reads: terraform dirs and the local modules they call,
// kubectl manifests, local helm charts, and a command's program when argv[0]
// is a relative path to a file (./scripts/deploy.sh). Tools' working files
// are skipped, since init and apply change them without changing what is
// deployed: dot-directories (.terraform, .git, .echelon), echelon state
// directories under any name, *.tfstate*, .terraform.lock.hcl, and echelon
// plans themselves (detected by content, see IsPlanJSON).
func SpecDigest(spec *lang.Spec) (string, error) {
	d, _, err := specDigest(spec)
	return d, err
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// specDigest also returns the digest of each file it covered, keyed by
// slash path relative to the spec directory.
func specDigest(spec *lang.Spec) (string, map[string]string, error) {
	files := map[string]string{}
	var lines []string
	for _, f := range spec.Files {
		name := filepath.Base(f)
		if src := spec.Sources[f]; src != nil {
			files[name] = sum(src.Bytes)
		} else {
			d, _, err := digestFile(f)
			if err != nil {
				return "", nil, fmt.Errorf("reading spec file: %w", err)
			}
			files[name] = d
		}
		lines = append(lines, "spec "+name+" "+files[name])
	}
	for _, v := range spec.Variables {
		val, _ := v.Value.UnmarkDeep()
		j := "null"
		if !val.IsNull() && val.IsWhollyKnown() {
			b, err := ctyJSON(val)
			if err != nil {
				return "", nil, fmt.Errorf("variable %q: %w", v.Name, err)
			}
			j = string(b)
		}
		lines = append(lines, "var "+v.Name+"="+j)
	}
	driverFiles := map[string]string{}
	for _, root := range driverPaths(spec) {
		if err := digestTree(spec.Dir, root, driverFiles); err != nil {
			return "", nil, err
		}
	}
	// Files the spec's functions read (file, templatefile, fileexists):
	// their content is in the plan, so editing one makes it stale; one
	// looked for and missing is recorded so that creating it does too.
	for _, f := range spec.ReadFiles {
		if err := digestTree(spec.Dir, f, driverFiles); err != nil {
			return "", nil, err
		}
	}
	for name, d := range driverFiles {
		files[name] = d
		lines = append(lines, "file "+name+" "+d)
	}
	sort.Strings(lines)
	return sum([]byte(strings.Join(lines, "\n"))), files, nil
}

func ctyJSON(v cty.Value) ([]byte, error) {
	j, err := jsonValue(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(j)
}

// driverPaths lists the local paths drivers read, absolute or relative to
// the working directory, deduplicated and sorted.
func driverPaths(spec *lang.Spec) []string {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		if p == "" {
			return
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(spec.Dir, p)
		}
		p = filepath.Clean(p)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, c := range spec.Components {
		for _, in := range c.Instances {
			switch {
			case in.Terraform != nil:
				add(in.Terraform.Dir)
			case in.Kubectl != nil:
				for _, m := range in.Kubectl.Manifests {
					if !strings.Contains(m, "://") { // a URL is not local
						add(m)
					}
				}
			case in.Command != nil && len(in.Command.Argv) > 0:
				// A program named by a relative path (./scripts/x.sh) is a
				// file of the deployment; one found on PATH or by an
				// absolute path is the machine's.
				prog := in.Command.Argv[0]
				if filepath.IsAbs(prog) || !strings.ContainsRune(prog, '/') {
					continue
				}
				p := filepath.Join(in.Command.Dir, prog)
				abs := p
				if !filepath.IsAbs(abs) {
					abs = filepath.Join(spec.Dir, abs)
				}
				if st, err := os.Stat(abs); err == nil && st.Mode().IsRegular() {
					add(p)
				}
			case in.Helm != nil:
				// A chart that is not a local path is a repository
				// reference; its name is in the spec files already. A
				// local one that does not exist (yet) is recorded as
				// missing, so creating it makes the plan stale.
				if localChart(in.Helm.Chart, spec.Dir) {
					add(in.Helm.Chart)
				}
			}
		}
	}
	// Terraform dirs call local modules (source = "./x" or "../x"): those
	// are read too.
	for i := 0; i < len(out); i++ {
		for _, m := range localModules(out[i]) {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	sort.Strings(out)
	return out
}

// localModules finds module blocks with a local source in dir's *.tf files.
// Unparseable files are skipped: terraform itself reports them.
func localModules(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	schema := &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "module", LabelNames: []string{"name"}}}}
	var out []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".tf") {
			continue
		}
		// A .tf file is source, a few KB: one past the spec file limit
		// is not read (terraform reports what it makes of it).
		src, err := readSmall(filepath.Join(dir, e.Name()), lang.MaxSpecFileSize)
		if err != nil {
			continue
		}
		f, diags := hclsyntax.ParseConfig(src, e.Name(), hcl.InitialPos)
		if diags.HasErrors() {
			continue
		}
		content, _, _ := f.Body.PartialContent(schema)
		for _, b := range content.Blocks {
			attrs, _ := b.Body.JustAttributes()
			a, ok := attrs["source"]
			if !ok {
				continue
			}
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() || v.IsNull() || v.Type() != cty.String || !v.IsKnown() {
				continue
			}
			s := v.AsString()
			if strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") {
				out = append(out, filepath.Clean(filepath.Join(dir, s)))
			}
		}
	}
	sort.Strings(out)
	return out
}

// digestTree adds the digest of root (a file, or every file under a
// directory) to out, keyed relative to base; a missing path is recorded
// as "missing" so that creating it changes the digest.
func digestTree(base, root string, out map[string]string) error {
	rel := func(p string) string {
		r, err := filepath.Rel(base, p)
		if err != nil {
			r = p
		}
		return filepath.ToSlash(r)
	}
	info, err := os.Stat(root)
	if errors.Is(err, fs.ErrNotExist) {
		out[rel(root)] = "missing"
		return nil
	}
	if err != nil {
		return fmt.Errorf("driver path: %w", err)
	}
	if !info.IsDir() {
		d, _, err := digestFile(root)
		if err != nil {
			return fmt.Errorf("driver file: %w", err)
		}
		out[rel(root)] = d
		return nil
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("driver directory: %w", err)
		}
		name := d.Name()
		if d.IsDir() {
			// Below the root: dot-directories (.git, .terraform, .echelon)
			// and echelon state directories under any name (--state) are
			// tools' working files, not the deployment's.
			if p != root && (strings.HasPrefix(name, ".") || isStateDir(p)) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.Contains(name, ".tfstate") || name == ".terraform.lock.hcl" || !d.Type().IsRegular() {
			return nil
		}
		digest, isPlan, err := digestFile(p)
		if err != nil {
			return fmt.Errorf("driver file: %w", err)
		}
		// A plan saved next to the spec (terraform { dir = "." }) would
		// make itself stale: compile writes it after digesting.
		if isPlan {
			return nil
		}
		out[rel(p)] = digest
		return nil
	})
}

// isStateDir says whether dir is (or is part of) an echelon state
// directory: it holds the lock table (locks/table.json, or table.json in
// a directory named locks), a journal, or runs/*/journal.jsonl.
func isStateDir(dir string) bool {
	exists := func(parts ...string) bool {
		_, err := os.Stat(filepath.Join(append([]string{dir}, parts...)...))
		return err == nil
	}
	if exists("locks", "table.json") || exists("journal.jsonl") ||
		(filepath.Base(dir) == "locks" && exists("table.json")) {
		return true
	}
	m, _ := filepath.Glob(filepath.Join(dir, "runs", "*", "journal.jsonl"))
	return len(m) > 0
}

// IsPlanJSON says whether b is an echelon plan: a JSON object whose first
// key is format_version and which has a plan_digest.
func IsPlanJSON(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	if tok, err := dec.Token(); err != nil || tok != "format_version" {
		return false
	}
	var head struct {
		PlanDigest *string `json:"plan_digest"`
	}
	return json.Unmarshal(t, &head) == nil && head.PlanDigest != nil
}

// appendIndented appends compact JSON (as encoding/json writes it: no
// whitespace outside strings) laid out exactly as json.Indent(dst, src,
// prefix, "  ") would with prefix the indentation of depth levels: empty
// objects and arrays stay {} and [].
func appendIndented(dst, src []byte, depth int) []byte {
	newline := func() {
		dst = append(dst, '\n')
		for k := 0; k < depth; k++ {
			dst = append(dst, ' ', ' ')
		}
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch c {
		case '"':
			// Copy the string through its closing quote.
			j := i + 1
			for j < len(src) {
				if src[j] == '\\' {
					j += 2
					continue
				}
				if src[j] == '"' {
					break
				}
				j++
			}
			dst = append(dst, src[i:j+1]...)
			i = j
		case '{', '[':
			dst = append(dst, c)
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				dst = append(dst, src[i+1])
				i++
				continue
			}
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, ':', ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// normalize replaces nil slices and maps with empty ones.
func (p *Plan) normalize() {
	if p.Mode.ComponentParallel == nil {
		p.Mode.ComponentParallel = map[string]int{}
	}
	nonNil(&p.Spec.Files)
	nonNil(&p.Spec.Sensitive)
	if p.Spec.Variables == nil {
		p.Spec.Variables = map[string]any{}
	}
	if p.Spec.FileDigests == nil {
		p.Spec.FileDigests = map[string]string{}
	}
	nonNil(&p.Phases)
	for i := range p.Phases {
		nonNil(&p.Phases[i].After)
	}
	nonNil(&p.APIs)
	nonNil(&p.Budgets)
	nonNil(&p.Operations)
	nonNil(&p.Batches)
	for i := range p.Operations {
		o := &p.Operations[i]
		nonNil(&o.DependsOn)
		if o.Calls == nil {
			o.Calls = map[string]int{}
		}
		if o.Terraform != nil && o.Terraform.Vars == nil {
			o.Terraform.Vars = map[string]any{}
		}
		if o.Kubectl != nil {
			nonNil(&o.Kubectl.Manifests)
		}
		if o.Helm != nil && o.Helm.Values == nil {
			o.Helm.Values = map[string]any{}
		}
		if o.Command != nil {
			nonNil(&o.Command.Argv)
			if o.Command.Env == nil {
				o.Command.Env = map[string]string{}
			}
		}
	}
	for i := range p.Batches {
		nonNil(&p.Batches[i].Operations)
		nonNil(&p.Batches[i].Exclusive)
		nonNil(&p.Batches[i].Shared)
	}
}

func nonNil[T any](s *[]T) {
	if *s == nil {
		*s = []T{}
	}
}

// digestLine is how Marshal writes the top-level plan_digest field.
const digestLine = "\n  \"plan_digest\": "

// Parse decodes plan bytes and checks format_version and plan_digest.
func Parse(b []byte) (*Plan, error) {
	version, err := formatVersion(b)
	if err != nil {
		return nil, err
	}
	if version != FormatVersion {
		return nil, fmt.Errorf("plan format_version %q is not supported (this echelon reads %q): compile the plan again with this echelon", version, FormatVersion)
	}
	// Hash while decoding (the two take about as long at 100k
	// operations): the digest recorded is the first string after
	// digestLine, checked below to be what was decoded.
	i := bytes.Index(b, []byte(digestLine))
	var hashed chan string
	end := -1
	if i >= 0 {
		v := b[i+len(digestLine):]
		if k := bytes.IndexByte(v[min(1, len(v)):], '"'); len(v) > 0 && v[0] == '"' && k >= 0 {
			end = i + len(digestLine) + k + 2
			hashed = make(chan string, 1) // never blocks: Parse may return first
			go func() { hashed <- blankSum(b, i, end) }()
		}
	}
	var p Plan
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	// Numbers in free-form values (variables, terraform vars, helm
	// values) stay as written: as float64, 1.5e300 or 2^63 would be
	// written back differently and the plan would not verify.
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("reading plan: %w", err)
	}
	// Recompute over the bytes as written, with the digest emptied: the
	// same bytes Marshal hashed.
	if i < 0 || p.PlanDigest == "" {
		return nil, errors.New("plan has no plan_digest: it was not written by echelon compile")
	}
	old := []byte(digestLine + `"` + p.PlanDigest + `"`)
	if !bytes.HasPrefix(b[i:], old) {
		return nil, errors.New("plan_digest is not where echelon compile writes it: the file was reformatted or edited")
	}
	var got string
	if hashed != nil && end == i+len(old) {
		got = <-hashed
	} else {
		got = blankSum(b, i, i+len(old))
	}
	if got != p.PlanDigest {
		return nil, fmt.Errorf("plan_digest does not match the plan's content (%s, recorded %s): the file was edited after compile; compile it again", short(got), short(p.PlanDigest))
	}
	p.normalize()
	return &p, nil
}

// blankSum is sum(b) with b[i:end], the plan_digest field, written as
// digestLine + `""`, without copying b.
func blankSum(b []byte, i, end int) string {
	h := sha256.New()
	h.Write(b[:i])
	h.Write([]byte(digestLine + `""`))
	h.Write(b[end:])
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// formatVersion reads format_version before the rest is decoded against
// this version's types. Plans written by Marshal have it first, so only
// the first tokens are read; otherwise the whole document is.
func formatVersion(b []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", errors.New("not a plan file: not a JSON object")
	}
	if tok, err := dec.Token(); err == nil && tok == "format_version" {
		var v string
		if err := dec.Decode(&v); err != nil {
			return "", fmt.Errorf("not a plan file: format_version: %w", err)
		}
		return v, nil
	}
	var head struct {
		FormatVersion *string `json:"format_version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return "", fmt.Errorf("not a plan file: %w", err)
	}
	if head.FormatVersion == nil {
		return "", errors.New("not a plan file: no format_version")
	}
	return *head.FormatVersion, nil
}

// ReadFile reads and checks a plan file.
func ReadFile(path string) (*Plan, error) {
	b, err := readPlanFile(path)
	if err != nil {
		return nil, err
	}
	p, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func short(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

// SpecPath is where a plan's spec lives: the first of SpecPaths that
// exists, else the first candidate.
func SpecPath(p *Plan, planPath string) string {
	c := SpecPaths(p, planPath)
	for _, path := range c {
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	return c[0]
}

// SpecPaths are the places a plan's spec may be, in the order they are
// tried: spec.path as is when absolute; else under the root of the
// repository holding the plan file, under the root of the repository
// holding the working directory (spec.path is relative to the repository
// root, see RepoSpecPath), beside the plan file (a spec outside any
// repository is recorded by its base name; plans of earlier versions
// recorded the path relative to the plan), the plan's own directory when
// it is the spec directory of that name, then relative to the working
// directory. Duplicates are left out. spec_digest guards against finding
// the wrong spec.
func SpecPaths(p *Plan, planPath string) []string {
	sp := filepath.FromSlash(p.Spec.Path)
	if filepath.IsAbs(sp) {
		return []string{sp}
	}
	var out []string
	seen := map[string]bool{}
	add := func(path string) {
		abs, err := filepath.Abs(path)
		if err != nil {
			abs = path
		}
		if !seen[abs] {
			seen[abs] = true
			out = append(out, path)
		}
	}
	planDir := filepath.Dir(planPath)
	if root, ok := RepoRoot(planDir); ok {
		add(relToCwd(filepath.Join(root, sp)))
	}
	if root, ok := RepoRoot("."); ok {
		add(relToCwd(filepath.Join(root, sp)))
	}
	add(filepath.Join(planDir, sp))
	if abs, err := filepath.Abs(planDir); err == nil && filepath.Base(abs) == sp {
		// The plan inside the spec directory it was compiled from
		// (outside a repository spec.path is that directory's name).
		add(planDir)
	}
	add(filepath.Clean(sp))
	return out
}

// relToCwd shortens an absolute path to one relative to the working
// directory when it lies below it, for messages.
func relToCwd(abs string) string {
	wd, err := os.Getwd()
	if err != nil {
		return abs
	}
	rel, err := filepath.Rel(wd, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return abs
	}
	return rel
}

// StaleError says why a plan no longer matches its spec.
type StaleError struct {
	Changed   []string // files whose content changed
	Added     []string // files now covered that were not
	Removed   []string // files covered then, gone now
	Variables []string // non-sensitive variables whose value differs
	// Other is set when only something unlisted differs (a sensitive
	// variable's value).
	Other bool
}

func (e *StaleError) Error() string {
	var parts []string
	if len(e.Changed) > 0 {
		parts = append(parts, "changed: "+strings.Join(e.Changed, ", "))
	}
	if len(e.Added) > 0 {
		parts = append(parts, "added: "+strings.Join(e.Added, ", "))
	}
	if len(e.Removed) > 0 {
		parts = append(parts, "removed: "+strings.Join(e.Removed, ", "))
	}
	if len(e.Variables) > 0 {
		parts = append(parts, "variables with other values: "+strings.Join(e.Variables, ", "))
	}
	if e.Other {
		parts = append(parts, "a sensitive variable has another value")
	}
	return "plan is stale, the spec changed since it was compiled (" + strings.Join(parts, "; ") + "): run `echelon compile` again"
}

// CheckFresh compares a plan with its spec as loaded now (see SpecPath; the
// caller loads it with the same --var values, sensitive ones included) and
// returns a *StaleError naming what changed, or nil.
func CheckFresh(p *Plan, spec *lang.Spec) error {
	digest, files, err := specDigest(spec)
	if err != nil {
		return err
	}
	if digest == p.SpecDigest {
		return nil
	}
	e := &StaleError{}
	for name, d := range files {
		old, ok := p.Spec.FileDigests[name]
		switch {
		case !ok:
			e.Added = append(e.Added, name)
		case old != d:
			e.Changed = append(e.Changed, name)
		}
	}
	for name := range p.Spec.FileDigests {
		if _, ok := files[name]; !ok {
			e.Removed = append(e.Removed, name)
		}
	}
	var red redactor
	ref, err := specRef(spec, &red)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for k := range ref.Variables {
		names[k] = true
	}
	for k := range p.Spec.Variables {
		names[k] = true
	}
	for k := range names {
		a, _ := json.Marshal(ref.Variables[k])
		b, _ := json.Marshal(p.Spec.Variables[k])
		if !jsonEqual(a, b) {
			e.Variables = append(e.Variables, k)
		}
	}
	sort.Strings(e.Changed)
	sort.Strings(e.Added)
	sort.Strings(e.Removed)
	sort.Strings(e.Variables)
	e.Other = len(e.Changed)+len(e.Added)+len(e.Removed)+len(e.Variables) == 0
	return e
}

// jsonEqual compares JSON texts by value (a read plan holds decoded values,
// a fresh one raw JSON).
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
