deployment "d" {}
mode "m" {}
phase "p" {}
phase "p" {} # ERROR: Duplicate phase
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
