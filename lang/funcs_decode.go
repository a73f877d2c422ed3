package lang

import (
	"errors"
	"fmt"

	ctyyaml "github.com/zclconf/go-cty-yaml"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	"gopkg.in/yaml.v3"
)

// The decoding functions, bounded: a string longer than MaxDecodeInput is
// refused, and yamldecode counts what its aliases expand to before go-cty's
// decoder (which copies every alias, and whose type conversion walks the
// expanded tree) sees the document: a 454-byte "billion laughs" took 1 GB
// and 40 s.
var (
	jsonDecodeFunc = guarded(stdlib.JSONDecodeFunc, "jsondecode", nil)
	yamlDecodeFunc = guarded(ctyyaml.YAMLDecodeFunc, "yamldecode", checkYAML)
	csvDecodeFunc  = guarded(stdlib.CSVDecodeFunc, "csvdecode", nil)
)

// guarded is fn with its string argument checked first, by length and
// then by check when not nil, in both its type and its value step (go-cty
// decoders work out the result type by decoding).
func guarded(fn function.Function, name string, check func(string) error) function.Function {
	test := func(args []cty.Value) error {
		if len(args) == 0 || !args[0].IsKnown() || args[0].IsNull() || args[0].Type() != cty.String {
			return nil
		}
		v, _ := args[0].Unmark()
		s := v.AsString()
		if len(s) > MaxDecodeInput {
			return fmt.Errorf("the string is %d bytes, larger than %s, the limit for %s", len(s), sizeMiB(MaxDecodeInput), name)
		}
		if check != nil {
			return check(s)
		}
		return nil
	}
	return function.New(&function.Spec{
		Description: fn.Description(),
		Params:      fn.Params(),
		VarParam:    fn.VarParam(),
		Type: func(args []cty.Value) (cty.Type, error) {
			if err := test(args); err != nil {
				return cty.NilType, err
			}
			return fn.ReturnTypeForValues(args)
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return fn.Call(args)
		},
	})
}

// checkYAML parses src into nodes (aliases unexpanded) and refuses a
// document that nests deeper than MaxNesting or whose aliases expand it
// past MaxDecodedValues values.
func checkYAML(src string) error {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		return fmt.Errorf("invalid YAML: %w", err)
	}
	sizes := map[*yaml.Node]int64{}
	var size func(n *yaml.Node, depth int) (int64, error)
	size = func(n *yaml.Node, depth int) (int64, error) {
		if n == nil {
			return 0, nil
		}
		if depth > MaxNesting {
			return 0, fmt.Errorf("the YAML document nests more than %d levels deep, the limit for yamldecode", MaxNesting)
		}
		if s, ok := sizes[n]; ok {
			return s, nil
		}
		if n.Kind == yaml.AliasNode {
			if n.Alias == nil {
				return 1, nil
			}
			return size(n.Alias, depth+1)
		}
		sizes[n] = -1 // in progress: an alias back to it is go-cty's to report
		total := int64(1)
		for _, c := range n.Content {
			s, err := size(c, depth+1)
			if err != nil {
				return 0, err
			}
			if s > 0 {
				total += s
			}
			if total > MaxDecodedValues {
				return 0, errTooManyValues
			}
		}
		sizes[n] = total
		return total, nil
	}
	_, err := size(&doc, 0)
	return err
}

var errTooManyValues = errors.New(fmt.Sprintf("the YAML document expands to more than %d values once its aliases are copied, the limit for yamldecode", MaxDecodedValues))
