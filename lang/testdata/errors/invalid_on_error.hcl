deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  on_error = "skip" # ERROR: Invalid on_error
  command { argv = ["true"] }
}
