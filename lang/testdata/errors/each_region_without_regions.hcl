deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  command {
    argv = ["deploy", each.region] # ERROR: Invalid reference
  }
}
