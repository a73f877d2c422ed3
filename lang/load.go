package lang

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// Load reads the spec at path (a .hcl file, or a directory whose *.hcl files
// are read together in name order), evaluates it with the variable values
// of opts and validates it.
//
// It reports every problem of every file at once. The returned Spec is never
// nil: even with errors it carries Path, Dir, Files and Sources, so callers
// can render the diagnostics with their source snippets; its other fields
// are only complete when the diagnostics hold no error.
func Load(path string, opts LoadOptions) (*Spec, hcl.Diagnostics) {
	l := newLoader(path, opts)
	l.load()
	l.spec.ReadFiles = l.files.files()
	l.redactSensitive()
	l.hideVarFileSources()
	return l.spec, finishDiags(l.diags)
}

// root is the top-level schema of a spec file.
var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "deployment", LabelNames: []string{"name"}},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "api", LabelNames: []string{"name"}},
		{Type: "phase", LabelNames: []string{"name"}},
		{Type: "mode", LabelNames: []string{"name"}},
		{Type: "component", LabelNames: []string{"name"}},
		{Type: "budget", LabelNames: []string{"name"}},
	},
}

// loader holds the state of one Load.
type loader struct {
	opts  LoadOptions
	spec  *Spec
	diags hcl.Diagnostics

	blocks map[string][]*hcl.Block // root blocks by type, files in name order

	// declared names per kind ("component", "phase", "api", "mode"), known
	// before any block is decoded so references can be checked in any order.
	declared map[string]map[string]hcl.Range
	order    map[string][]string // declared names per kind, in declaration order

	parseFailed bool // a file did not parse: missing blocks may be in it
	stopped     bool // LoadOptions.Context was done (reported)

	varVals   map[string]cty.Value
	localVals map[string]cty.Value
	// failedLocals are declared locals whose value has an error of its
	// own: a reference to one says so, not that it is undeclared.
	failedLocals map[string]bool
	baseCtx      *hcl.EvalContext

	// refMemo holds checkRefs results while one component's instances are
	// decoded (see checkRefsMemo); nil otherwise.
	refMemo map[hcl.Expression]hcl.Diagnostics
	// elemMemo holds the values of list elements that do not use each.*,
	// for the same component (see stringList); nil otherwise.
	elemMemo map[hcl.Expression]*memoVal
	// eachCtxs are the per-instance contexts, by each.* values (eachCtx).
	eachCtxs map[eachKey]*hcl.EvalContext
	// regionNames maps region names seen to their nameProblem message.
	regionNames map[string]string

	// outputComps are the components by name, once their regions and
	// replicas are known (buildOutputs); outRefs collects the outputs the
	// values evaluated read, while one driver setting is decoded.
	outputComps map[string]*Component
	outRefs     []pathRef
	// resolveMu serialises Spec.ResolveOutputs, which decodes again with
	// this loader after Load.
	resolveMu sync.Mutex

	files *fileReader                  // what file(), templatefile()... read
	funcs map[string]function.Function // functions(), built once
}

func newLoader(path string, opts LoadOptions) *loader {
	return &loader{
		opts: opts,
		spec: &Spec{
			Path:    path,
			Sources: map[string]*hcl.File{},
			Locals:  map[string]cty.Value{},
		},
		blocks:      map[string][]*hcl.Block{},
		declared:    map[string]map[string]hcl.Range{},
		order:       map[string][]string{},
		varVals:     map[string]cty.Value{},
		localVals:   map[string]cty.Value{},
		eachCtxs:    map[eachKey]*hcl.EvalContext{},
		regionNames: map[string]string{},
		files:       newFileReader(specDir(path)),
	}
}

// specDir is the directory a spec's relative paths start from: the spec
// directory, or the spec file's (Spec.Dir, known before the files are read).
func specDir(path string) string {
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return path
	}
	return filepath.Dir(path)
}

func (l *loader) errorf(subject *hcl.Range, summary, format string, a ...any) {
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, a...),
		Subject:  subject,
	})
}

func (l *loader) errorCtx(subject, context *hcl.Range, summary, format string, a ...any) {
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, a...),
		Subject:  subject,
		Context:  context,
	})
}

func (l *loader) load() {
	if !l.readFiles() {
		return
	}
	for _, step := range []func(){
		l.declareNames,
		l.decodeVariables,
		l.decodeLocals,
		l.buildBaseCtx,
		l.decodeDeployment,
		l.decodeAPIs,
		l.decodePhases,
		l.decodeModes,
		l.decodeComponents,
		l.checkTerraformBinaries,
		l.decodeBudgets,
		l.checkCounts,
	} {
		if l.interrupted() {
			break
		}
		step()
	}
	l.addContexts()
}

// interrupted says whether LoadOptions.Context is done, reporting it
// once: Load then stops at the next file, step or component.
func (l *loader) interrupted() bool {
	ctx := l.opts.Context
	if ctx == nil || ctx.Err() == nil {
		return false
	}
	if !l.stopped {
		l.stopped = true
		l.parseFailed = true // what is left undecoded is not missing
		l.errorf(nil, "Interrupted", "Loading the spec was interrupted (%s).", context.Cause(ctx))
	}
	return true
}

// addContexts gives every diagnostic that points into a root block, and has
// no wider context yet, that whole block as its Context.
func (l *loader) addContexts() {
	var ranges []hcl.Range
	for _, f := range l.spec.Sources {
		body, ok := f.Body.(*hclsyntax.Body)
		if !ok {
			continue
		}
		for _, b := range body.Blocks {
			ranges = append(ranges, hcl.RangeBetween(b.DefRange(), b.Body.SrcRange))
		}
	}
	for _, d := range l.diags {
		if d.Subject == nil || d.Context != nil {
			continue
		}
		for _, r := range ranges {
			if r.Filename == d.Subject.Filename && r.Start.Byte <= d.Subject.Start.Byte && d.Subject.End.Byte <= r.End.Byte {
				d.Context = r.Ptr()
				break
			}
		}
	}
}

// readFiles finds, reads and parses the spec files and collects their root
// blocks. It returns false when there is nothing to decode.
func (l *loader) readFiles() bool {
	path := l.spec.Path
	info, err := os.Stat(path)
	if err != nil {
		l.errorf(nil, "Cannot read spec", "%s.", strings.TrimSuffix(err.Error(), "."))
		return false
	}
	var files []string
	if info.IsDir() {
		l.spec.Dir = path
		entries, err := os.ReadDir(path)
		if err != nil {
			l.errorf(nil, "Cannot read spec", "%s.", err)
			return false
		}
		varFiles := l.varFileInfos()
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".hcl") && !strings.HasPrefix(e.Name(), ".") {
				name := filepath.Join(path, e.Name())
				if isVarFile(name, varFiles) {
					// A --var-file named *.hcl beside the spec is a
					// variables file, not part of the spec.
					continue
				}
				files = append(files, name)
			}
		}
		sort.Strings(files)
		if len(files) == 0 {
			l.errorf(nil, "No spec files", "The directory %s holds no *.hcl file.", path)
			return false
		}
	} else {
		l.spec.Dir = filepath.Dir(path)
		files = []string{path}
	}
	l.spec.Files = files
	for _, name := range files {
		if l.interrupted() {
			return false
		}
		src, err := readBounded(name, MaxSpecFileSize, "spec file")
		if err != nil {
			l.errorf(fileStart(name), "Cannot read spec file", "%s.", err)
			l.parseFailed = true
			continue
		}
		if d := checkNesting(src, name, syntaxHCL); d != nil {
			l.diags = append(l.diags, d)
			l.parseFailed = true
			continue
		}
		f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
		l.diags = append(l.diags, diags...)
		if f == nil {
			continue
		}
		l.spec.Sources[name] = f
		if diags.HasErrors() {
			l.parseFailed = true
			// A file that does not parse yields no blocks worth checking:
			// its partial body would only add confusing follow-on errors.
			continue
		}
		content, diags := f.Body.Content(rootSchema)
		l.diags = append(l.diags, diags...)
		for _, b := range content.Blocks {
			l.blocks[b.Type] = append(l.blocks[b.Type], b)
		}
	}
	return true
}

// varFileInfos stats the --var-file files (those that exist).
func (l *loader) varFileInfos() []os.FileInfo {
	var out []os.FileInfo
	for _, p := range l.opts.VarFiles {
		if fi, err := os.Stat(p); err == nil {
			out = append(out, fi)
		}
	}
	return out
}

// isVarFile says whether name is one of the --var-file files (the same
// file, however the paths are spelled).
func isVarFile(name string, varFiles []os.FileInfo) bool {
	if len(varFiles) == 0 {
		return false
	}
	fi, err := os.Stat(name)
	if err != nil {
		return false
	}
	for _, v := range varFiles {
		if os.SameFile(fi, v) {
			return true
		}
	}
	return false
}

// declareNames records the names of labelled blocks, reporting invalid and
// duplicate names. A duplicate is reported at its label and then ignored.
func (l *loader) declareNames() {
	for _, kind := range []string{"component", "phase", "api", "mode", "budget", "variable"} {
		names := map[string]hcl.Range{}
		var kept []*hcl.Block
		for _, b := range l.blocks[kind] {
			name := b.Labels[0]
			labelRng := b.LabelRanges[0]
			if prev, dup := names[name]; dup {
				l.errorCtx(&labelRng, b.DefRange.Ptr(), "Duplicate "+kind,
					"A %s named %q was already declared at %s. Each %s needs a name of its own.", kind, name, rangeString(prev), kind)
				continue
			}
			switch kind {
			case "variable":
				if !hclsyntax.ValidIdentifier(name) {
					l.errorCtx(&labelRng, b.DefRange.Ptr(), "Invalid name",
						"The variable name %q is not valid: a variable name starts with a letter and holds only letters, digits, \"_\" and \"-\", so it can be used as var.NAME.", name)
				}
			case "budget":
				// budget names appear only in messages: any label will do.
			default:
				if msg := nameProblem(kind, name); msg != "" {
					l.errorCtx(&labelRng, b.DefRange.Ptr(), "Invalid name", "%s", msg)
				}
			}
			names[name] = b.DefRange
			l.order[kind] = append(l.order[kind], name)
			kept = append(kept, b)
		}
		l.declared[kind] = names
		l.blocks[kind] = kept
	}
}

// rangeString is FILE:LINE for messages that point at another declaration.
func rangeString(r hcl.Range) string {
	return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line)
}

func (l *loader) checkCounts() {
	if l.parseFailed {
		return
	}
	var at *hcl.Range
	if len(l.spec.Files) > 0 {
		at = &hcl.Range{Filename: l.spec.Files[0], Start: hcl.InitialPos, End: hcl.InitialPos}
	}
	// Count the blocks as written, so a block already reported for a bad
	// label does not also count as missing.
	written := map[string]int{}
	for _, f := range l.spec.Sources {
		if body, ok := f.Body.(*hclsyntax.Body); ok {
			for _, b := range body.Blocks {
				written[b.Type]++
			}
		}
	}
	if written["deployment"] == 0 {
		l.errorf(at, "Missing deployment block", "A spec needs exactly one deployment block, e.g. deployment \"my-app\" { default_mode = \"standard\" }.")
	}
	for _, kind := range []string{"phase", "mode", "component"} {
		if written[kind] == 0 {
			l.errorf(at, "Missing "+kind+" block", "A spec needs at least one %s block.", kind)
		}
	}
}

// finishDiags drops the duplicates that per-instance evaluation produces
// (the same mistake in every region) and orders the rest by position, so
// output is stable whatever order the checks ran in.
func finishDiags(diags hcl.Diagnostics) hcl.Diagnostics {
	seen := map[string]bool{}
	out := hcl.Diagnostics{}
	for _, d := range diags {
		key := fmt.Sprintf("%d|%s|%s", d.Severity, d.Summary, d.Detail)
		if d.Subject != nil {
			key += fmt.Sprintf("|%s|%d|%d", d.Subject.Filename, d.Subject.Start.Byte, d.Subject.End.Byte)
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool { return diagBefore(out[i], out[j]) })
	if len(out) == 0 {
		return nil
	}
	if len(out) > MaxDiagnostics {
		// Errors first, so a flood of warnings hides none.
		sort.SliceStable(out, func(i, j int) bool { return out[i].Severity == hcl.DiagError && out[j].Severity != hcl.DiagError })
		rest := len(out) - MaxDiagnostics
		out = out[:MaxDiagnostics]
		sort.SliceStable(out, func(i, j int) bool { return diagBefore(out[i], out[j]) })
		out = append(out, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Too many diagnostics",
			Detail:   fmt.Sprintf("%d more diagnostics are not shown: echelon reports at most %d. Fix these and run again.", rest, MaxDiagnostics),
		})
	}
	return out
}

// diagBefore orders diagnostics by file and position, those without a
// position last.
func diagBefore(x, y *hcl.Diagnostic) bool {
	a, b := x.Subject, y.Subject
	switch {
	case a == nil || b == nil:
		return a != nil && b == nil
	case a.Filename != b.Filename:
		return a.Filename < b.Filename
	default:
		return a.Start.Byte < b.Start.Byte
	}
}
