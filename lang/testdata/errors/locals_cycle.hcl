deployment "d" {}
phase "p" {}
mode "m" {}
locals {
  a = local.b + 1 # ERROR: Circular reference among locals
  b = local.c
  c = local.a
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
