deployment "d" {}
phase "p" {}
mode "m" {
  max_parallel = -1 # ERROR: Invalid max_parallel
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
