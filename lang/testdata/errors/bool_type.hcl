deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  parallel = "maybe" # ERROR: Incorrect attribute value type
  command { argv = ["true"] }
}
