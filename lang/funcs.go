package lang

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	ctyyaml "github.com/zclconf/go-cty-yaml"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// coalesceFunc is Terraform's coalesce: the first argument that is neither
// null nor an empty string (cty's own skips only nulls).
var coalesceFunc = function.New(&function.Spec{
	Description: "Returns the first argument that is not null and not an empty string.",
	VarParam: &function.Parameter{
		Name:             "vals",
		Type:             cty.DynamicPseudoType,
		AllowUnknown:     true,
		AllowDynamicType: true,
		AllowNull:        true,
	},
	Type: func(args []cty.Value) (cty.Type, error) {
		types := make([]cty.Type, len(args))
		for i, a := range args {
			types[i] = a.Type()
		}
		ty, _ := convert.UnifyUnsafe(types)
		if ty == cty.NilType {
			return cty.NilType, errors.New("all arguments must have the same type")
		}
		return ty, nil
	},
	Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
		for _, a := range args {
			if !a.IsKnown() {
				return cty.UnknownVal(retType), nil
			}
			if a.IsNull() || (a.Type() == cty.String && a.AsString() == "") {
				continue
			}
			return convert.Convert(a, retType)
		}
		return cty.NilVal, errors.New("no argument is non-null and non-empty")
	},
})

// functions are the HCL functions a spec may call, built once per Load:
// go-cty's stdlib under the names Terraform users know, plus try/can, and
// Terraform's own where go-cty has none or differs (funcs_terraform.go).
// The file functions read relative to the spec directory.
func (l *loader) functions() map[string]function.Function {
	if l.funcs != nil {
		return l.funcs
	}
	r := l.files
	l.funcs = map[string]function.Function{
		"abs":                    stdlib.AbsoluteFunc,
		"alltrue":                boolListFunc("Reports whether every element of a list is true.", true),
		"anytrue":                boolListFunc("Reports whether any element of a list is true.", false),
		"base64decode":           base64DecodeFunc,
		"base64encode":           stringFunc("Encodes a string as Base64.", func(s string) (string, error) { return base64.StdEncoding.EncodeToString([]byte(s)), nil }),
		"basename":               stringFunc("Returns the last element of a path.", func(s string) (string, error) { return filepath.Base(s), nil }),
		"can":                    tryfunc.CanFunc,
		"ceil":                   stdlib.CeilFunc,
		"chomp":                  stdlib.ChompFunc,
		"chunklist":              stdlib.ChunklistFunc,
		"coalesce":               coalesceFunc,
		"coalescelist":           stdlib.CoalesceListFunc,
		"compact":                stdlib.CompactFunc,
		"concat":                 stdlib.ConcatFunc,
		"contains":               stdlib.ContainsFunc,
		"csvdecode":              csvDecodeFunc,
		"dirname":                stringFunc("Returns a path without its last element.", func(s string) (string, error) { return filepath.Dir(s), nil }),
		"distinct":               stdlib.DistinctFunc,
		"element":                stdlib.ElementFunc,
		"endswith":               prefixFunc("Reports whether a string ends with a suffix.", strings.HasSuffix),
		"file":                   r.fileFunc(),
		"filebase64":             r.fileBytesFunc("Reads a file (relative to the spec directory) as Base64.", base64.StdEncoding.EncodeToString),
		"fileexists":             r.fileExistsFunc(),
		"filemd5":                r.fileBytesFunc("Returns the MD5 of a file's contents, in hex.", hashHex(md5.New)),
		"filesha1":               r.fileBytesFunc("Returns the SHA-1 of a file's contents, in hex.", hashHex(sha1.New)),
		"filesha256":             r.fileBytesFunc("Returns the SHA-256 of a file's contents, in hex.", hashHex(sha256.New)),
		"flatten":                stdlib.FlattenFunc,
		"floor":                  stdlib.FloorFunc,
		"format":                 stdlib.FormatFunc,
		"formatdate":             stdlib.FormatDateFunc,
		"formatlist":             stdlib.FormatListFunc,
		"indent":                 stdlib.IndentFunc,
		"index":                  indexFunc,
		"join":                   stdlib.JoinFunc,
		"jsondecode":             jsonDecodeFunc,
		"jsonencode":             stdlib.JSONEncodeFunc,
		"keys":                   stdlib.KeysFunc,
		"length":                 stdlib.LengthFunc,
		"log":                    stdlib.LogFunc,
		"lookup":                 stdlib.LookupFunc,
		"lower":                  stdlib.LowerFunc,
		"max":                    stdlib.MaxFunc,
		"md5":                    hashFunc("Returns the MD5 of a string, in hex.", md5.New),
		"merge":                  stdlib.MergeFunc,
		"min":                    stdlib.MinFunc,
		"nonsensitive":           nonsensitiveFunc,
		"one":                    oneFunc,
		"parseint":               stdlib.ParseIntFunc,
		"pow":                    stdlib.PowFunc,
		"range":                  stdlib.RangeFunc,
		"regex":                  stdlib.RegexFunc,
		"regexall":               stdlib.RegexAllFunc,
		"replace":                replaceFunc,
		"reverse":                stdlib.ReverseListFunc,
		"sensitive":              sensitiveFunc,
		"setintersection":        stdlib.SetIntersectionFunc,
		"setproduct":             stdlib.SetProductFunc,
		"setsubtract":            stdlib.SetSubtractFunc,
		"setsymmetricdifference": stdlib.SetSymmetricDifferenceFunc,
		"setunion":               stdlib.SetUnionFunc,
		"sha1":                   hashFunc("Returns the SHA-1 of a string, in hex.", sha1.New),
		"sha256":                 hashFunc("Returns the SHA-256 of a string, in hex.", sha256.New),
		"signum":                 stdlib.SignumFunc,
		"slice":                  stdlib.SliceFunc,
		"sort":                   stdlib.SortFunc,
		"split":                  stdlib.SplitFunc,
		"startswith":             prefixFunc("Reports whether a string starts with a prefix.", strings.HasPrefix),
		"strcontains":            prefixFunc("Reports whether a string contains a substring.", strings.Contains),
		"strrev":                 stdlib.ReverseFunc,
		"substr":                 stdlib.SubstrFunc,
		"sum":                    sumFunc,
		"templatefile":           r.templateFileFunc(l.functions),
		"timeadd":                stdlib.TimeAddFunc,
		"title":                  stdlib.TitleFunc,
		"tobool":                 stdlib.MakeToFunc(cty.Bool),
		"tolist":                 stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"tomap":                  stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
		"tonumber":               stdlib.MakeToFunc(cty.Number),
		"toset":                  stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
		"tostring":               stdlib.MakeToFunc(cty.String),
		"trim":                   stdlib.TrimFunc,
		"trimprefix":             stdlib.TrimPrefixFunc,
		"trimspace":              stdlib.TrimSpaceFunc,
		"trimsuffix":             stdlib.TrimSuffixFunc,
		"try":                    tryfunc.TryFunc,
		"upper":                  stdlib.UpperFunc,
		"urlencode":              stringFunc("Applies URL encoding to a string.", func(s string) (string, error) { return url.QueryEscape(s), nil }),
		"values":                 stdlib.ValuesFunc,
		"yamldecode":             yamlDecodeFunc,
		"yamlencode":             ctyyaml.YAMLEncodeFunc,
		"zipmap":                 stdlib.ZipmapFunc,
	}
	return l.funcs
}
