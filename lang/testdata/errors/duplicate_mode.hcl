deployment "d" {}
phase "p" {}
mode "m" {}
mode "m" {} # ERROR: Duplicate mode
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
