// Package review turns a spec into what a reviewer reads beside a change:
// golden files committed next to the spec (each mode's plan, its `show`
// view and its simulated prediction) that CI can hold the spec to, and a
// pull-request comment comparing the spec at a base revision with the
// working tree (validation, the plan diff with repeated per-region changes
// grouped, P50/P90, throttling, risk and budgets per mode before and
// after), as markdown, JSON or a self-contained HTML page.
//
// It does not run anything: it compiles (planner) and simulates (sim). It
// reads git only to materialise the base revision (git archive into a
// temporary directory).
package review
