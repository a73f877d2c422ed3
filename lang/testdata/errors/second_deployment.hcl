deployment "d" {}
phase "p" {}
mode "m" {}
deployment "other" {} # ERROR: Duplicate deployment block
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
