deployment "d" {}
phase "p" {}
mode "m" {}
mode "Fast Mode" {} # ERROR: Invalid name
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
