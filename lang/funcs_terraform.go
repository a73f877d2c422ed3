package lang

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// The functions below are Terraform's (lang/funcs), with its names,
// arguments and results, for those go-cty's stdlib lacks or does
// differently. Each is deterministic: the same spec and files give the
// same plan.

// fileReader reads the files a spec's functions name, relative to the
// spec directory, once each, and remembers every path asked for (found or
// not) so the planner can digest them into spec_digest.
type fileReader struct {
	dir   string
	read  map[string][]byte
	err   map[string]error
	asked map[string]bool
}

func newFileReader(dir string) *fileReader {
	return &fileReader{dir: dir, read: map[string][]byte{}, err: map[string]error{}, asked: map[string]bool{}}
}

// resolve is path relative to the spec directory (as Terraform's are to
// the module's), cleaned.
func (r *fileReader) resolve(path string) string {
	if !filepath.IsAbs(path) {
		path = filepath.Join(r.dir, path)
	}
	return filepath.Clean(path)
}

func (r *fileReader) readFile(path string) ([]byte, error) {
	p := r.resolve(path)
	r.asked[p] = true
	if b, ok := r.read[p]; ok {
		return b, nil
	}
	if err, ok := r.err[p]; ok {
		return nil, err
	}
	b, err := readBounded(p, MaxReadFileSize, "file")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("no file exists at %s", p)
		} else {
			err = fmt.Errorf("cannot read it: %w", err)
		}
		r.err[p] = err
		return nil, err
	}
	r.read[p] = b
	return b, nil
}

// files lists the paths asked for, sorted.
func (r *fileReader) files() []string {
	out := make([]string, 0, len(r.asked))
	for p := range r.asked {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func (r *fileReader) fileFunc() function.Function {
	return function.New(&function.Spec{
		Description: "Reads the contents of a file (relative to the spec directory) as a UTF-8 string.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			b, err := r.readFile(args[0].AsString())
			if err != nil {
				return cty.UnknownVal(cty.String), err
			}
			if !utf8.Valid(b) {
				return cty.UnknownVal(cty.String), fmt.Errorf("contents of %s are not valid UTF-8; use filebase64 to read binary files", args[0].AsString())
			}
			return cty.StringVal(string(b)), nil
		},
	})
}

func (r *fileReader) fileBytesFunc(desc string, enc func([]byte) string) function.Function {
	return function.New(&function.Spec{
		Description: desc,
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			b, err := r.readFile(args[0].AsString())
			if err != nil {
				return cty.UnknownVal(cty.String), err
			}
			return cty.StringVal(enc(b)), nil
		},
	})
}

func (r *fileReader) fileExistsFunc() function.Function {
	return function.New(&function.Spec{
		Description: "Reports whether a file exists at the path (relative to the spec directory).",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := r.resolve(args[0].AsString())
			r.asked[p] = true
			fi, err := os.Stat(p)
			switch {
			case errors.Is(err, os.ErrNotExist):
				return cty.False, nil
			case err != nil:
				return cty.UnknownVal(cty.Bool), fmt.Errorf("cannot stat %s: %w", p, err)
			case !fi.Mode().IsRegular():
				return cty.UnknownVal(cty.Bool), fmt.Errorf("%s is not a regular file", p)
			}
			return cty.True, nil
		},
	})
}

// templateFileFunc renders a file as an HCL template with the given
// variables and the spec's functions (but not templatefile itself), as
// Terraform's templatefile does.
func (r *fileReader) templateFileFunc(funcs func() map[string]function.Function) function.Function {
	return function.New(&function.Spec{
		Description: "Renders a template file (relative to the spec directory) with the given variables.",
		Params: []function.Parameter{
			{Name: "path", Type: cty.String},
			{Name: "vars", Type: cty.DynamicPseudoType},
		},
		Type: function.StaticReturnType(cty.DynamicPseudoType),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			path, vars := args[0].AsString(), args[1]
			if !(vars.Type().IsMapType() || vars.Type().IsObjectType()) || vars.IsNull() {
				return cty.DynamicVal, errors.New("invalid vars value: must be a map")
			}
			src, err := r.readFile(path)
			if err != nil {
				return cty.DynamicVal, err
			}
			if d := checkNesting(src, r.resolve(path), syntaxTemplate); d != nil {
				return cty.DynamicVal, fmt.Errorf("%s:%d:%d: nesting deeper than %d levels, the limit echelon reads", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, MaxNesting)
			}
			expr, diags := hclsyntax.ParseTemplate(src, r.resolve(path), hcl.Pos{Line: 1, Column: 1})
			if diags.HasErrors() {
				return cty.DynamicVal, diags
			}
			ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: map[string]function.Function{}}
			for it := vars.ElementIterator(); it.Next(); {
				k, v := it.Element()
				ctx.Variables[k.AsString()] = v
			}
			for _, tr := range expr.Variables() {
				if _, ok := ctx.Variables[tr.RootName()]; !ok {
					return cty.DynamicVal, fmt.Errorf("vars map does not contain key %q, referenced at %s", tr.RootName(), tr[0].SourceRange())
				}
			}
			for name, fn := range funcs() {
				if name == "templatefile" {
					// As in Terraform: no template renders another.
					fn = function.New(&function.Spec{
						Params: []function.Parameter{{Name: "path", Type: cty.String}, {Name: "vars", Type: cty.DynamicPseudoType}},
						Type:   function.StaticReturnType(cty.DynamicPseudoType),
						Impl: func([]cty.Value, cty.Type) (cty.Value, error) {
							return cty.DynamicVal, errors.New("cannot recursively call templatefile from inside templatefile call")
						},
					})
				}
				ctx.Functions[name] = fn
			}
			val, diags := expr.Value(ctx)
			if diags.HasErrors() {
				return cty.DynamicVal, diags
			}
			return val, nil
		},
	})
}

func stringFunc(desc string, f func(string) (string, error)) function.Function {
	return function.New(&function.Spec{
		Description: desc,
		Params:      []function.Parameter{{Name: "str", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			s, err := f(args[0].AsString())
			if err != nil {
				return cty.UnknownVal(cty.String), err
			}
			return cty.StringVal(s), nil
		},
	})
}

func hashHex(h func() hash.Hash) func([]byte) string {
	return func(b []byte) string {
		sum := h()
		sum.Write(b)
		return hex.EncodeToString(sum.Sum(nil))
	}
}

func hashFunc(desc string, h func() hash.Hash) function.Function {
	enc := hashHex(h)
	return stringFunc(desc, func(s string) (string, error) { return enc([]byte(s)), nil })
}

var base64DecodeFunc = stringFunc("Decodes a Base64 string (the result must be UTF-8).", func(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// The input is not quoted: it may be a sensitive value.
		return "", errors.New("the string is not valid Base64")
	}
	if !utf8.Valid(b) {
		return "", errors.New("the result of decoding the provided string is not valid UTF-8")
	}
	return string(b), nil
})

func prefixFunc(desc string, f func(s, affix string) bool) function.Function {
	return function.New(&function.Spec{
		Description: desc,
		Params:      []function.Parameter{{Name: "str", Type: cty.String}, {Name: "affix", Type: cty.String}},
		Type:        function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.BoolVal(f(args[0].AsString(), args[1].AsString())), nil
		},
	})
}

func isSequence(ty cty.Type) bool {
	return ty.IsListType() || ty.IsSetType() || ty.IsTupleType()
}

// sumFunc is Terraform's sum: the total of a non-empty list, set or tuple
// of numbers.
var sumFunc = function.New(&function.Spec{
	Description: "Returns the total of a list or set of numbers.",
	Params:      []function.Parameter{{Name: "list", Type: cty.DynamicPseudoType}},
	Type:        function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		list := args[0]
		if !isSequence(list.Type()) || list.IsNull() {
			return cty.UnknownVal(cty.Number), errors.New("argument must be list, set, or tuple of number values")
		}
		if list.LengthInt() == 0 {
			return cty.UnknownVal(cty.Number), errors.New("cannot sum an empty list")
		}
		total := new(big.Float)
		for it := list.ElementIterator(); it.Next(); {
			_, v := it.Element()
			if v.IsNull() {
				return cty.UnknownVal(cty.Number), errors.New("argument must be list, set, or tuple of number values")
			}
			n, err := convert.Convert(v, cty.Number)
			if err != nil {
				return cty.UnknownVal(cty.Number), errors.New("argument must be list, set, or tuple of number values")
			}
			total.Add(total, n.AsBigFloat())
		}
		return cty.NumberVal(total), nil
	},
})

// oneFunc is Terraform's one: null for an empty collection, its element
// for one element, an error for more.
var oneFunc = function.New(&function.Spec{
	Description: "Returns the only element of a list or set, null if it is empty.",
	Params:      []function.Parameter{{Name: "list", Type: cty.DynamicPseudoType}},
	Type: func(args []cty.Value) (cty.Type, error) {
		ty := args[0].Type()
		switch {
		case ty == cty.DynamicPseudoType:
			return cty.DynamicPseudoType, nil
		case ty.IsListType() || ty.IsSetType():
			return ty.ElementType(), nil
		case ty.IsTupleType():
			switch n := len(ty.TupleElementTypes()); n {
			case 0:
				return cty.DynamicPseudoType, nil
			case 1:
				return ty.TupleElementTypes()[0], nil
			}
		}
		return cty.NilType, errors.New("must be a list, set, or tuple value with either zero or one elements")
	},
	Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
		list := args[0]
		if list.IsNull() {
			return cty.NullVal(retType), errors.New("argument must not be null")
		}
		switch list.LengthInt() {
		case 0:
			return cty.NullVal(retType), nil
		case 1:
			it := list.ElementIterator()
			it.Next()
			_, v := it.Element()
			return v, nil
		}
		return cty.DynamicVal, errors.New("must be a list, set, or tuple value with either zero or one elements")
	},
})

func boolListFunc(desc string, all bool) function.Function {
	return function.New(&function.Spec{
		Description: desc,
		Params:      []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
		Type:        function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			for it := args[0].ElementIterator(); it.Next(); {
				_, v := it.Element()
				if !v.IsKnown() {
					return cty.UnknownVal(cty.Bool), nil
				}
				t := !v.IsNull() && v.True()
				if all && !t {
					return cty.False, nil
				}
				if !all && t {
					return cty.True, nil
				}
			}
			return cty.BoolVal(all), nil
		},
	})
}

// indexFunc is Terraform's index: the position of value in list (go-cty's
// "index" is element lookup by key, Terraform's element/lookup).
var indexFunc = function.New(&function.Spec{
	Description: "Returns the index of the first element of list equal to value.",
	Params: []function.Parameter{
		{Name: "list", Type: cty.DynamicPseudoType},
		{Name: "value", Type: cty.DynamicPseudoType},
	},
	Type: function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		list := args[0]
		if !(list.Type().IsListType() || list.Type().IsTupleType()) || list.IsNull() {
			return cty.UnknownVal(cty.Number), errors.New("argument must be a list or tuple")
		}
		if list.LengthInt() == 0 {
			return cty.UnknownVal(cty.Number), errors.New("cannot search an empty list")
		}
		for it := list.ElementIterator(); it.Next(); {
			i, v := it.Element()
			eq, err := stdlib.Equal(v, args[1])
			if err != nil {
				return cty.UnknownVal(cty.Number), err
			}
			if !eq.IsKnown() {
				return cty.UnknownVal(cty.Number), nil
			}
			if eq.True() {
				return i, nil
			}
		}
		return cty.UnknownVal(cty.Number), errors.New("item not found")
	},
})

// replaceFunc is Terraform's replace: a substring wrapped in slashes is a
// regular expression (with $1 references in the replacement).
var replaceFunc = function.New(&function.Spec{
	Description: "Replaces each occurrence of substring (or /regex/) in str.",
	Params: []function.Parameter{
		{Name: "str", Type: cty.String},
		{Name: "substr", Type: cty.String},
		{Name: "replace", Type: cty.String},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		str, substr, repl := args[0].AsString(), args[1].AsString(), args[2].AsString()
		if len(substr) > 1 && substr[0] == '/' && substr[len(substr)-1] == '/' {
			re, err := regexp.Compile(substr[1 : len(substr)-1])
			if err != nil {
				return cty.UnknownVal(cty.String), err
			}
			return cty.StringVal(re.ReplaceAllString(str, repl)), nil
		}
		return cty.StringVal(strings.ReplaceAll(str, substr, repl)), nil
	},
})

// sensitiveFunc marks a value sensitive, as a sensitive variable's is.
var sensitiveFunc = function.New(&function.Spec{
	Description: "Marks a value as sensitive.",
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType,
		AllowUnknown: true, AllowNull: true, AllowMarked: true, AllowDynamicType: true}},
	Type: func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return args[0].Mark(MarkSensitive), nil
	},
})

// nonsensitiveFunc removes the sensitive marks of a value (and of the
// values nested in it), keeping any other mark.
var nonsensitiveFunc = function.New(&function.Spec{
	Description: "Removes the sensitive marking of a value.",
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType,
		AllowUnknown: true, AllowNull: true, AllowMarked: true, AllowDynamicType: true}},
	Type: func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v, pvm := args[0].UnmarkDeepWithPaths()
		var keep []cty.PathValueMarks
		for _, p := range pvm {
			marks := cty.ValueMarks{}
			for m := range p.Marks {
				if m != MarkSensitive {
					marks[m] = struct{}{}
				}
			}
			if len(marks) > 0 {
				keep = append(keep, cty.PathValueMarks{Path: p.Path, Marks: marks})
			}
		}
		return v.MarkWithPaths(keep), nil
	},
})
