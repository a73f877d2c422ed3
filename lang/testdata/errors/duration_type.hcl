deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  duration = 60 # ERROR: Invalid duration
  command { argv = ["true"] }
}
