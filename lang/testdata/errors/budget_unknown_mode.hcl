deployment "d" {}
phase "p" {}
mode "m" {}
budget "fast" {
  mode = "mm" # ERROR: Unknown mode
  p50  = "1h"
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
