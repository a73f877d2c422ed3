deployment "d" {}
phase "p" {}
mode "m" {}
locals {
  bad = upper(42, 43) # ERROR: Too many function arguments
}
component "c" {
  phase    = phase.p
  duration = "1s"
  command { argv = ["echo", local.bad] } # ERROR: Local value has errors
}
