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
// A component without duration (other than terraform, timed by its
// resources) gets a "Missing duration" warning; a duration's p50 must be
// longer than zero.
//
// Variables take, in rising precedence, their default, ECHELON_VAR_name,
// each --var-file in order (HCL NAME = VALUE lines, or a *.json object of
// name -> value), each --var in order (Terraform's order). Values derived
// from a sensitive variable, or from sensitive(), carry the MarkSensitive
// cty mark. Such a value is refused ("Sensitive value not allowed here")
// everywhere but a driver block's settings, since the rest ends up in
// operation IDs, file names, targets or the plan; and no diagnostic quotes
// a sensitive value.
//
// Durations use Go syntax ("90s", "6m", "1h30m"). The functions are go-cty's
// stdlib under Terraform's names, plus try and can, and Terraform's own
// where go-cty has none or differs (funcs_terraform.go): coalesce, index,
// replace (/regex/), sum, one, alltrue, anytrue, startswith, endswith,
// strcontains, sha256, sha1, md5, base64encode/decode, basename, dirname,
// urlencode, yamlencode/decode, sensitive, nonsensitive, and the file
// functions file, templatefile, fileexists, filebase64, filesha256,
// filesha1, filemd5, whose paths are relative to the spec directory and
// are listed in Spec.ReadFiles for the plan's spec digest.
package lang
