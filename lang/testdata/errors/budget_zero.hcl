deployment "d" {}
phase "p" {}
mode "m" {}
budget "b" {
  mode          = mode.m
  p50           = "0s" # ERROR: Invalid duration
  max_throttled = -1 # ERROR: Invalid max_throttled
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
