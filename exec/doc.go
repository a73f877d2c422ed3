// Package exec runs a compiled plan against real tools (terraform via
// terraform-exec, kubectl, helm, plain commands) under the plan's mode caps
// and locks, journaling every step so a killed run resumes.
//
// It shares the scheduling policy with sim (the planner's critical-path
// priorities and the mode's caps); it does not predict anything.
package exec
