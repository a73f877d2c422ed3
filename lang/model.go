package lang

import (
	"context"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Spec is a decoded, validated spec: one file, or every *.hcl file of a
// directory read together in name order.
type Spec struct {
	// Path is the file or directory the spec was loaded from, as given.
	Path string
	// Dir is the directory driver paths (terraform dir, manifests, charts)
	// are relative to: the spec directory, or the file's directory.
	Dir string
	// Files are the spec files read, sorted, and their parsed form (for
	// diagnostic snippets).
	Files   []string
	Sources map[string]*hcl.File
	// ReadFiles are the files the spec's functions (file, templatefile,
	// fileexists, filesha256...) read or looked for, cleaned paths
	// (relative ones joined to Dir), sorted: spec_digest should cover
	// them, as a missing one when it does not exist.
	ReadFiles []string

	Deployment *Deployment
	Variables  []*Variable // declaration order
	Locals     map[string]cty.Value
	APIs       []*API       // declaration order
	Phases     []*Phase     // execution order: topological over `after`, else declaration order
	Modes      []*Mode      // declaration order
	Components []*Component // declaration order
	Budgets    []*Budget    // declaration order
}

// Deployment is the single deployment block.
type Deployment struct {
	Name        string
	Description string
	DefaultMode string
	DeclRange   hcl.Range
}

// Variable is a declared input and the value it resolved to (default,
// --var-file, --var or ECHELON_VAR_x, last wins in that order of precedence).
type Variable struct {
	Name        string
	Type        cty.Type
	Default     cty.Value
	Description string
	Sensitive   bool
	Value       cty.Value
	DeclRange   hcl.Range
}

// API is a rate-limited API shared by components' calls.
type API struct {
	Name      string
	Rate      float64 // requests per second, sustained
	Burst     int     // bucket size
	Scope     string  // "deployment" or "region"
	Retry     Retry
	DeclRange hcl.Range
}

// Retry is how a throttled request backs off.
type Retry struct {
	MaxAttempts int
	Backoff     time.Duration
	MaxBackoff  time.Duration
}

// Scopes of an api bucket.
const (
	ScopeDeployment = "deployment"
	ScopeRegion     = "region"
)

// Phase groups components; phases run in order when a mode sets phase_barrier.
type Phase struct {
	Name      string
	After     []Ref
	DeclRange hcl.Range
}

// Mode is a named set of concurrency caps.
type Mode struct {
	Name                 string
	PhaseBarrier         bool
	BatchBarrier         bool
	MaxParallel          int            // 0 = no cap
	RegionParallel       int            // 0 = no cap
	TerraformParallelism int            // passed to terraform -parallelism; 0 = terraform's default (10)
	ComponentParallel    map[string]int // component name -> cap
	// FailureTolerance, when set, lets regions go on after others fail,
	// until more than it have (nil: a failure acts by on_error alone).
	FailureTolerance *FailureTolerance
	DeclRange        hcl.Range
}

// FailureTolerance is a number of regions, or a percentage of the plan's
// regions (Percent, when given as "10%").
type FailureTolerance struct {
	Regions int
	Percent float64 // > 0: a percentage, and Regions is unused
}

// Component is one declared unit of work. Structural attributes (phase,
// driver, regions, replicas, depends_on, parallel, restart, containers) are
// evaluated once; everything that may use each.region / each.replica is
// evaluated per instance in Instances.
type Component struct {
	Name       string
	Phase      string
	Driver     string // "terraform", "kubectl", "helm" or "command"
	Regions    []string
	Replicas   int
	DependsOn  []Ref
	Parallel   bool
	Restart    bool
	Containers []Container
	// Instances are region-major, then replica: one per (region, replica);
	// Region is "" when the component has no regions.
	Instances []*Instance
	// MockOutputs are the outputs other components may read, with the
	// values validate, compile and simulate use (terraform only; nil
	// when not declared). Real values come from terraform at run time.
	MockOutputs      map[string]cty.Value
	MockOutputsRange hcl.Range
	// OutputAttrs are the driver settings that read outputs, by attribute
	// name, with their expression's range (for diagnostics).
	OutputAttrs map[string]hcl.Range
	DeclRange   hcl.Range

	resolver *outputResolver // settings that read outputs (ResolveOutputs)
}

// RunsAlone reports whether an instance of the component must run with
// nothing else in flight, and why ("" when it need not).
func (c *Component) RunsAlone() (bool, string) {
	if !c.Parallel {
		return true, "parallel = false"
	}
	for _, ct := range c.Containers {
		if !ct.Parallel {
			return true, "container " + ct.Name + " is not parallel"
		}
	}
	if c.Restart {
		return true, "restart = true (offline deployment)"
	}
	return false, ""
}

// Container is a sub-unit of a component; a component is parallel only if it
// and all its containers are.
type Container struct {
	Name      string
	Parallel  bool
	DeclRange hcl.Range
}

// Ref names another block (component.x, phase.x, api.x) and where the
// reference was written.
type Ref struct {
	Name  string
	Range hcl.Range
}

// Duration is a run-time distribution: lognormal through P50 and P90
// (a point when they are equal).
type Duration struct {
	P50 time.Duration
	P90 time.Duration
}

// Instance holds the per-instance attributes of a component.
//
// An attribute that does not use each.* is evaluated once per component,
// so the instances of a component may share its maps and slices (Calls,
// Vars, Values, Argv, Env, Manifests): treat them as read-only, and copy
// before changing one. Each instance has its own driver struct.
type Instance struct {
	Region    string
	Replica   int
	Duration  Duration
	Resources int
	// ResourceDuration is one resource's apply time (same forms as
	// duration: "2m" or {p50, p90}); terraform only.
	ResourceDuration Duration
	// DestroyDuration and DestroyResourceDuration are the same for a
	// destroy plan; unset (zero), the planner derives them from the
	// deploy ones (docs/language.md, "Destroy durations").
	DestroyDuration         Duration
	DestroyResourceDuration Duration
	Calls                   map[string]int // api name -> requests
	OnError                 string         // "stop", "skip_dependents", "continue"
	Retries                 int

	// Outputs are the producers' outputs the driver settings read, by
	// setting: "vars.NAME", "values.NAME", "argv.N", "env.NAME", "context",
	// "namespace", or the attribute alone when the whole of it reads them.
	// Nil when none does. The planner makes each a dependency.
	Outputs map[string][]OutputRef

	// Exactly one of these is set, matching Component.Driver.
	Terraform *Terraform
	Kubectl   *Kubectl
	Helm      *Helm
	Command   *Command
}

// on_error values.
const (
	OnErrorStop           = "stop"
	OnErrorSkipDependents = "skip_dependents"
	OnErrorContinue       = "continue"
)

// Driver names.
const (
	DriverTerraform = "terraform"
	DriverKubectl   = "kubectl"
	DriverHelm      = "helm"
	DriverCommand   = "command"
)

// Terraform is the terraform driver block. Dir is as written (relative to
// Spec.Dir unless absolute). Vars keep cty marks: a value derived from a
// sensitive variable is marked sensitive. Binary is the program that runs
// it: "" for terraform (binary = "terraform" or none), BinaryTofu for
// OpenTofu.
type Terraform struct {
	Dir       string
	Target    string
	Workspace string
	Binary    string
	Vars      map[string]cty.Value

	binaryAt *hcl.Range // the binary attribute, when there is one
}

// BinaryTofu is the terraform block's binary = "tofu": OpenTofu runs the
// component, the same way terraform would.
const BinaryTofu = "tofu"

// Kubectl is the kubectl driver block; Manifests are paths relative to Spec.Dir.
type Kubectl struct {
	Context   string
	Manifests []string
	Namespace string
	// Sensitive names the strings above whose value derives from a
	// sensitive variable ("context", "namespace"): a string has no cty
	// mark, so this is how the planner knows to write "(sensitive)". Nil
	// when none is; shared between instances like the slices (read-only).
	Sensitive map[string]bool
}

// Helm is the helm driver block; Chart is a path relative to Spec.Dir (or a
// chart reference).
type Helm struct {
	Context   string
	Release   string
	Chart     string
	Namespace string
	Values    map[string]cty.Value // keep cty marks
	// Sensitive names the strings above that derive from a sensitive
	// variable ("context", "namespace"; see Kubectl.Sensitive).
	Sensitive map[string]bool
}

// Command is the command driver block: argv as given, never through a shell.
type Command struct {
	Argv []string
	Env  map[string]string
	Dir  string
	// Sensitive names the strings above that derive from a sensitive
	// variable: "argv.N" (N the index, from 0), "env.NAME", "dir"; see
	// Kubectl.Sensitive.
	Sensitive map[string]bool
}

// Budget is a limit a prediction must meet for `simulate --check`.
type Budget struct {
	Name         string
	Mode         string
	P50          time.Duration // 0 = unset
	P90          time.Duration // 0 = unset
	MaxThrottled float64       // < 0 = unset
	// Description is for people; simulate --check prints it beside a
	// broken budget. "(sensitive value)" when it derives from a secret.
	Description string
	DeclRange   hcl.Range
}

// LoadOptions are the inputs beyond the files.
type LoadOptions struct {
	// Vars are --var k=v values, in command-line order (later wins).
	Vars []string
	// VarFiles are --var-file paths, in command-line order.
	VarFiles []string
	// Environ is the environment searched for ECHELON_VAR_x (os.Environ()).
	Environ []string
	// Recorded are values a plan recorded (its spec.variables), by name,
	// as JSON: apply loads the plan's spec with them. Each keeps its type
	// (5 stays a number for an untyped variable, where --var x=5 would be
	// the string "5"). They beat the environment and --var-file, and lose
	// to Vars; names the spec does not declare are ignored.
	Recorded map[string]string
	// Context, when not nil, stops the load when done (Ctrl-C): Load
	// returns an "Interrupted" error at the next file, step or
	// component.
	Context context.Context
}

// Mode returns the named mode, or nil.
func (s *Spec) Mode(name string) *Mode {
	for _, m := range s.Modes {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// Component returns the named component, or nil.
func (s *Spec) Component(name string) *Component {
	for _, c := range s.Components {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// API returns the named api, or nil.
func (s *Spec) API(name string) *API {
	for _, a := range s.APIs {
		if a.Name == name {
			return a
		}
	}
	return nil
}
