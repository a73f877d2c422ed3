deployment "d" {}
phase "p" {}
mode "m" {}
api "arm" {
  rate = -5 # ERROR: Invalid rate
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
