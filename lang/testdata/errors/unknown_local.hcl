deployment "d" {}
phase "p" {}
mode "m" {}
locals {
  n = 2
}
component "c" {
  phase = phase.p
  replicas = local.m # ERROR: Reference to undeclared local value
  command { argv = ["true"] }
}
