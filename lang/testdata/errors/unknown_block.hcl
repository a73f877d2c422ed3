deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  containr "x" {} # ERROR: Unsupported block type
  command { argv = ["true"] }
}
