package planner

import "github.com/echelonhq/echelon/lang"

// MissingFile is the digest SpecFiles gives a file the spec looked for
// that does not exist (creating it makes the plan stale).
const MissingFile = "missing"

// SpecFiles is SpecDigest and the digest ("sha256:...", or MissingFile) of
// each file it covers: the spec files, the files drivers read and those
// the spec's functions read, keyed by slash path relative to spec.Dir
// (../modules/x.tf for one outside it; a path that cannot be made relative
// stays as it is). What a spec bundle holds (exec.SpecBundle).
func SpecFiles(spec *lang.Spec) (string, map[string]string, error) {
	return specDigest(spec)
}
