deployment "d" {}
phase "p" {}
mode "m" {}
api "arm" { rate = 1 }
api "arm" { rate = 2 } # ERROR: Duplicate api
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
