deployment "My App" {} # ERROR: Invalid name
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
