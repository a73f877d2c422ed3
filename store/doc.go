// Package store is where applies keep what they share: the lock table of
// EXCLUSIVE/SHARED lock sets, each plan's runs and journals, the plans
// they ran, the steps' logs (logs.go) and, on PostgreSQL, the plans' spec
// bundles for workers without a checkout (bundles.go). Two implementations of one interface (Store), tested by one
// suite (suite_test.go):
//
//   - Dir, the state directory (docs/state-dir.md): the zero-setup
//     default. Its lock table (DirLocks, dirlocks.go) is a file under an
//     flock; a holder lives while its process, or a process group it
//     started, runs on this host.
//   - Postgres, a database every runner of a team points at (docs/store.md):
//     holders with leases judged by the server's clock, renewed by a
//     heartbeat; lock sets taken all or nothing in one transaction; a
//     fencing token per holder (its ID) and per run owner (the run's
//     epoch), so a process paused past its lease has its late writes
//     refused (ErrFenced). A holder whose lease ran out is taken over only
//     once the process groups its steps started are gone: killed by a
//     taker on their host (procs.go, orphans.go), or one more lease later
//     from another host. The schema's migrations are embedded
//     (migrations/) and applied under an advisory lock.
//
// The store sits below exec: exec runs a plan against a Store and knows
// nothing of files or SQL; a journal record is an opaque JSON line here.
// Secrets never reach the store: exec masks them before a record is
// written, and the plan kept is the plan file, with its "(sensitive)"
// placeholders. Package store/pgtest gives tests a real PostgreSQL.
package store
