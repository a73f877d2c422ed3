// Command specgen writes a generated spec of about -ops operations into
// -dir (spec.hcl and the terraform module dir it names), for
// scripts/bench-planner.sh.
package main
