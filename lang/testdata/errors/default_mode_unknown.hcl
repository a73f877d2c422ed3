deployment "d" {
  default_mode = "standard" # ERROR: Unknown mode
}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
