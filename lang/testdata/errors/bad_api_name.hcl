deployment "d" {}
phase "p" {}
mode "m" {}
api "ARM" { rate = 1 } # ERROR: Invalid name
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
