deployment "d" {}
phase "p" {}
mode "m" {}
budget "b" {
  mode = mode.m
  p50  = "1h"
}
budget "b" { # ERROR: Duplicate budget
  mode = mode.m
  p50  = "2h"
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
