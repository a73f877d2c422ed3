deployment "d" {}
phase "p" {}
mode "m" {}
budget "fast" {
  mode = mode.fast # ERROR: Reference to undeclared mode
  p90  = "1h"
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
