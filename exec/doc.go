// Package exec runs a compiled plan against real tools (terraform, kubectl,
// helm, plain commands) under the plan's mode caps
// and locks, journaling every step so a killed run resumes.
//
// It does not decide what starts when: package sched does, the same
// policy sim runs (docs/scheduler.md). One central loop (run.go: walk) feeds
// the policy what happened on the real clock (a step ended, with each
// operation's outcome; a lock set was granted; the policy's wake time came;
// Ctrl-C) and starts the steps it returns; every running step is one
// goroutine that reports back (step.go). Drivers register themselves
// (driver.go: Driver, RegisterDriver). Ready
// terraform instances sharing a state (Operation.StateKey) start as one step:
// one terraform apply with a -target each. When it fails, terraform's -json
// stream says which instances to blame (errored resources, error
// diagnostics under their -target): the others succeeded; each failed one
// retries alone within its own retries. A failure the stream cannot pin on
// an instance (init or plan errors, a diagnostic without an address) fails
// them all.
//
// State directory layout:
//
//	locks/table.json                      lock table (DirLocks): a snapshot line, then change records; the directory is flocked
//	runs/<plan digest>/apply.lock         flocked by the running apply of that plan (its pid)
//	runs/<plan digest>/journal.jsonl      append-only JSON lines (Event)
//	runs/<plan digest>/logs/<op>.<n>.log  one log per operation and attempt
//	runs/<plan digest>/preview/           a preview (RunPreview): preview.json, plans/*.tfplan
//	bundles/<spec digest>/                a worker's unpacked spec bundle (bundle.go: FetchBundle): bundle.json, files/
//	terraform/plugin-cache/               terraform's TF_PLUGIN_CACHE_DIR (unless the environment sets one)
//
// The journal is fsync'ed before each step starts (group commit: records
// queued meanwhile share the fsync); a step's end record is flushed in the
// background, and is on disk before any later start, so before its
// dependents. --resume skips operations whose last record says succeeded and
// runs again everything else, including what was in flight when the run
// died.
//
// Sensitive values (Options.Secrets) reach the drivers as they are and are
// masked as "(sensitive)" in everything the executor writes: log files
// (streaming, a secret split across writes included), journal records,
// events and the Result. Terraform variables never go on a command line
// (readable by every local user): each step passes them in a
// vars-*.tfvars.json of mode 0600 in the run directory, removed when the
// step ends.
//
// events and the Result. RuntimePlan is the inverse of the planner's
// redaction: it fills a plan's "(sensitive)" placeholders from the spec
// and lists the values to mask.
//
// exec renders nothing: it emits Events through Options.OnEvent, and
// package views shows them.
//
// Tool processes lead process groups of their own and, on Linux, get
// SIGKILL when apply dies (their forking goroutine stays locked to its
// thread, which the death signal is tied to); a group guard, one helper
// process per echelon process (guard_linux.go), SIGKILLs what still runs
// of their groups (an orphaned grandchild, a terraform provider) when
// echelon dies, even by kill -9. The lock store records each step's
// process groups too: after a kill -9 a holder keeps its locks while its
// pid or one of those groups still runs (the state directory), or until a
// process on its host has killed them (PostgreSQL: docs/store.md,
// "Orphaned process groups").
//
// Terraform runs as few processes as the work needs (terraform_prep.go):
// one `version` per binary and one `init` per directory per run (inits of
// different directories at once), then one apply or destroy per state and
// attempt, its workspace chosen with TF_WORKSPACE. Every workspace of a
// directory shares its .terraform; the plugin cache is
// STATE/terraform/plugin-cache unless TF_PLUGIN_CACHE_DIR names one.
// OpenTofu (an operation's Terraform.Binary "tofu": ECHELON_TOFU, else tofu
// on PATH) runs the same way: it reads the same TF_* variables, answers
// version -json with the same terraform_version and writes the same -json
// stream.
//
// A preview (preview.go, terraform_preview.go) walks the plan the same way
// and runs `terraform plan -out` once per state; an apply with
// Options.Preview applies those saved plans.
//
// Command operations in a destroy plan run the same argv with
// ECHELON_ACTION=destroy: the contract gives them no separate destroy argv.
package exec
