deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
modes "x" {} # ERROR: Unsupported block type
