deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  regions = [] # ERROR: Empty regions
  command { argv = ["true"] }
}
