deployment "d" {}
phase "p" {}
mode "m" {
  component_parallel = { c = -1 } # ERROR: Invalid component_parallel
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
