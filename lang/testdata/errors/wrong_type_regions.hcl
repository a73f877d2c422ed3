deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  regions = "westeurope" # ERROR: Incorrect attribute value type
  command { argv = ["true"] }
}
