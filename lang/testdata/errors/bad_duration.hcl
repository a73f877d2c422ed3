deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  duration = "5 minutes" # ERROR: Invalid duration
  command { argv = ["true"] }
}
