deployment "d" {}
phase "p" {}
mode "m" {}
locals {
  r = each.region # ERROR: Invalid reference
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
