deployment "d" {}
phase "p" {}
mode "m" {}
api "arm" { rate = 10 }
component "c" {
  phase = phase.p
  calls = {
    arm  = 5
    amr2 = 3 # ERROR: Unknown api
  }
  command { argv = ["true"] }
}
