package planner

// FormatVersion is the plan file format this package writes and reads.
const FormatVersion = "1"

// Actions.
const (
	ActionDeploy  = "deploy"
	ActionDestroy = "destroy"
)

// Undeploy strategies for destroy plans.
const (
	IfDependingStop   = "if_depending_stop"
	SkipDepending     = "skip_depending"
	UndeployDepending = "undeploy_depending"
)

// Plan is the compiled, self-checking unit that sim predicts and exec runs.
// Field order is the JSON key order; arrays are never null.
type Plan struct {
	FormatVersion string `json:"format_version"`
	SpecDigest    string `json:"spec_digest"`
	PlanDigest    string `json:"plan_digest"`
	Action        string `json:"action"`
	Mode          Mode   `json:"mode"`

	// Extensions beyond the contract's floor.
	Deployment       string   `json:"deployment"`
	UndeployStrategy string   `json:"undeploy_strategy,omitempty"` // destroy only
	Only             []string `json:"only,omitempty"`              // destroy --only components
	// Spec says where the plan came from, so apply can recompute spec_digest.
	Spec SpecRef `json:"spec"`
	// Phases in execution order (last declared first in a destroy plan).
	Phases  []Phase  `json:"phases"`
	APIs    []API    `json:"apis"`
	Budgets []Budget `json:"budgets"`

	Operations []Operation `json:"operations"`
	Batches    []Batch     `json:"batches"`
}

// SpecRef locates the spec and the non-sensitive variable values used.
type SpecRef struct {
	// Path of the spec file or directory, relative to the plan file's
	// directory when written with -o, else as given on the command line.
	Path  string   `json:"path"`
	Files []string `json:"files"` // spec file names relative to Path's directory
	// Variables are every variable's value as JSON, sensitive ones as
	// "(sensitive)": apply takes those again from --var / ECHELON_VAR_x.
	Variables map[string]any `json:"variables"`
	Sensitive []string       `json:"sensitive"` // names of sensitive variables
	// FileDigests are "sha256:..." per file that spec_digest covers (spec
	// files and the files of driver directories), keyed by slash path
	// relative to the spec directory, so a stale plan can say what changed.
	// Variable values are not listed: a sensitive one must not be
	// recoverable from a per-value hash.
	FileDigests map[string]string `json:"file_digests"`
}

// Mode is the mode the plan was compiled for.
type Mode struct {
	Name                 string         `json:"name"`
	PhaseBarrier         bool           `json:"phase_barrier"`
	BatchBarrier         bool           `json:"batch_barrier"`
	MaxParallel          int            `json:"max_parallel"`
	RegionParallel       int            `json:"region_parallel"`
	TerraformParallelism int            `json:"terraform_parallelism"`
	ComponentParallel    map[string]int `json:"component_parallel"`
	// FailureTolerance is how many regions may fail before the run stops
	// (a mode's percentage resolved against the plan's regions); nil: no
	// tolerance, failures act by on_error alone.
	FailureTolerance *int `json:"failure_tolerance,omitempty"`
}

// Phase is a phase in execution order.
type Phase struct {
	Name  string   `json:"name"`
	After []string `json:"after"`
}

// API is a rate-limited api. Durations are seconds.
type API struct {
	Name  string  `json:"name"`
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
	Scope string  `json:"scope"`
	Retry Retry   `json:"retry"`
}

// Retry is an api's backoff for throttled requests, in seconds.
type Retry struct {
	MaxAttempts int     `json:"max_attempts"`
	Backoff     float64 `json:"backoff"`
	MaxBackoff  float64 `json:"max_backoff"`
}

// Budget is a limit for `simulate --check`, durations in seconds. P50 and
// P90 are unset when zero; MaxThrottled is unset when negative, so that
// max_throttled = 0 means "no throttled request at all".
type Budget struct {
	Name         string  `json:"name"`
	Mode         string  `json:"mode"`
	P50          float64 `json:"p50"`
	P90          float64 `json:"p90"`
	MaxThrottled float64 `json:"max_throttled"`
	// Description is the budget's, for people (omitted when empty).
	Description string `json:"description,omitempty"`
}

// Duration is a lognormal run-time distribution through p50 and p90, seconds.
type Duration struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
}

// Operation is one instance of a component. IDs: name, name/REGION or
// name/REGION/I.
type Operation struct {
	ID        string `json:"id"`
	Component string `json:"component"`
	Region    string `json:"region"`
	Replica   int    `json:"replica"`
	Phase     string `json:"phase"`
	Driver    string `json:"driver"`
	// DependsOn are the operations that must finish before this one, in
	// this plan's order: in a destroy plan the dependents being removed
	// (the spec's edges reversed).
	DependsOn []string `json:"depends_on"`
	Parallel  bool     `json:"parallel"`
	Restart   bool     `json:"restart"`
	// Alone says why the operation runs alone ("" when it need not).
	Alone            string         `json:"alone,omitempty"`
	Duration         Duration       `json:"duration"`
	Resources        int            `json:"resources"`
	ResourceDuration Duration       `json:"resource_duration"` // one resource, seconds
	Calls            map[string]int `json:"calls"`
	OnError          string         `json:"on_error"`
	Retries          int            `json:"retries"`
	// Priority is the longest remaining path in seconds (p50 durations) from
	// the start of this operation to the end of the plan: critical-path-first
	// list scheduling by both sim and exec.
	Priority float64 `json:"priority"`
	// Outputs are the producers' outputs the driver settings read
	// (sorted; omitted when none): each producer is in DependsOn, and the
	// settings that read them hold an output placeholder that apply fills
	// in with Terraform's value once the producer has run.
	Outputs []OutputRef `json:"outputs,omitempty"`

	Terraform *Terraform `json:"terraform,omitempty"`
	Kubectl   *Kubectl   `json:"kubectl,omitempty"`
	Helm      *Helm      `json:"helm,omitempty"`
	Command   *Command   `json:"command,omitempty"`
}

// OutputRef is one output of a producer operation (a terraform one).
type OutputRef struct {
	Operation string `json:"operation"`
	Output    string `json:"output"`
}

// Terraform settings of an operation. Dir is relative to the spec directory
// as written in the spec. Vars hold JSON values; a sensitive one is the
// string "(sensitive)" and exec re-evaluates it from the spec. Binary is
// the program that runs it: omitted for terraform (so plans from before
// it keep their bytes and digests), "tofu" for OpenTofu.
type Terraform struct {
	Dir       string         `json:"dir"`
	Target    string         `json:"target"`
	Workspace string         `json:"workspace"`
	Binary    string         `json:"binary,omitempty"`
	Vars      map[string]any `json:"vars"`
}

// Kubectl settings of an operation.
type Kubectl struct {
	Context   string   `json:"context"`
	Manifests []string `json:"manifests"`
	Namespace string   `json:"namespace"`
}

// Helm settings of an operation.
type Helm struct {
	Context   string         `json:"context"`
	Release   string         `json:"release"`
	Chart     string         `json:"chart"`
	Namespace string         `json:"namespace"`
	Values    map[string]any `json:"values"`
}

// Command settings of an operation.
type Command struct {
	Argv []string          `json:"argv"`
	Env  map[string]string `json:"env"`
	Dir  string            `json:"dir"`
}

// Batch is a set of operations whose dependencies all lie in earlier
// batches, with the locks the batch (or each of its operations) takes.
// Operations of one dependency level form one batch, followed by one batch
// per run-alone operation of that level. Phase is "" when the batch mixes
// phases (only in a mode without phase_barrier).
type Batch struct {
	Index      int      `json:"index"`
	Phase      string   `json:"phase"`
	Operations []string `json:"operations"`
	Exclusive  []string `json:"exclusive"`
	Shared     []string `json:"shared"`
}

// StateKey identifies the Terraform state an operation writes: instances
// with the same key cannot run as separate processes, so exec coalesces the
// ready ones into one apply with a -target each, and sim models exactly that.
// It is "" for non-terraform operations.
func (o *Operation) StateKey() string {
	if o.Terraform == nil {
		return ""
	}
	ws := o.Terraform.Workspace
	if ws == "" {
		ws = "default"
	}
	return o.Terraform.Dir + "#" + ws
}
