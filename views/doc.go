// Package views renders what the commands have to show: apply's progress
// and summary, simulate's prediction, diagnostics. Each command has a view
// interface with a human and a JSON implementation (as terraform's
// internal/command/views), chosen once by a constructor from the --json
// flag; the command then calls the view and never branches on the format.
//
// Rendering only: views make no decisions about the run or the prediction
// (exec emits Events through Options.OnEvent, sim returns Results) and
// nothing in exec, sim, planner or lang imports them.
package views
