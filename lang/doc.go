// Package lang turns echelon spec files (HCL) into a validated, fully evaluated
// model: the deployment, its variables, apis, phases, modes, components and
// budgets, each with the source range it was declared at.
//
// It decodes and checks; it does not expand instances into operations, build
// dependency graphs or order work — that is the planner's job. Every problem a
// user can make is returned as hcl.Diagnostics pointing at the tightest range,
// all at once rather than stopping at the first.
package lang
