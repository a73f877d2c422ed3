deployment "d" {}
phase "p" {}
mode "m" {}
api "arm" {
  rate  = 0 # ERROR: Invalid rate
  burst = 0 # ERROR: Invalid burst
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
