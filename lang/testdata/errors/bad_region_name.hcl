deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  regions = ["west europe"] # ERROR: Invalid name
  command { argv = ["true"] }
}
