deployment "d" {}
phase "p" {}
mode "m" {}
locals {
  a = 1
}
locals {
  a = 2 # ERROR: Duplicate local value
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
