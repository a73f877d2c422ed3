// Command echelon compiles deployment specs into locked, batched plans,
// predicts their wall-clock time and API throttling per mode, and runs them
// against Terraform, kubectl, helm and plain commands.
//
// Subcommands live one per file (validate.go, compile.go, ...), each a small
// run function over the library packages; main alone maps errors to exit
// codes: 0 done, 1 failed, 2 bad usage.
package main
