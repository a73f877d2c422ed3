deployment "d" {
  default_mode = mode.mm # ERROR: Reference to undeclared mode
}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
