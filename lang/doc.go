// Package lang turns echelon spec files (HCL) into a validated, fully evaluated
// model: the deployment, its variables, apis, phases, modes, components and
// budgets, each with the source range it was declared at.
//
// It decodes and checks; it does not expand instances into operations, build
// dependency graphs or order work — that is the planner's job. Every problem a
// user can make is returned as hcl.Diagnostics pointing at the tightest range,
// all at once rather than stopping at the first.
//
// Values a spec may leave out:
//
//   - deployment.default_mode: the first mode declared
//   - component: replicas 1, parallel true, restart false, on_error "stop",
//     retries 0, duration "1m", no regions (one instance); driver may be left
//     out when the component has exactly one driver block
//   - container: parallel true
//   - api: burst ceil(rate) (at least 1), scope "deployment", retry
//     { max_attempts = 5, backoff = "1s", max_backoff = "30s" }
//   - mode: every cap 0 (no cap), phase_barrier and batch_barrier false
//   - budget: p50, p90 unset (0), max_throttled unset (-1)
//   - duration objects: p90 = p50 when only p50 is given
//
// Variables take, in rising precedence, their default, ECHELON_VAR_name,
// each --var-file in order, each --var in order (Terraform's order). Values
// derived from a sensitive variable carry the MarkSensitive cty mark.
// Durations use Go syntax ("90s", "6m", "1h30m"). The functions are go-cty's
// stdlib under Terraform's names, plus try and can; coalesce is Terraform's
// (the first argument neither null nor "").
package lang
