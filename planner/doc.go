// Package planner compiles a lang.Spec into a Plan: operations expanded from
// components (regions x replicas), instance-level dependencies, batches with
// EXCLUSIVE/SHARED locks as in SAP's Deploy Controller, critical-path
// priorities, and digests that let apply refuse a stale plan.
//
// It does not run or time anything: sim predicts a plan, exec runs it. The
// plan is deterministic to the byte: the same spec and variables always give
// the same JSON.
package planner
