deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  duration = "-5m" # ERROR: Invalid duration
  command { argv = ["true"] }
}
