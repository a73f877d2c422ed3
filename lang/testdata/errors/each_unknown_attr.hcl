deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  regions = ["a"]
  command {
    argv = ["deploy", each.regoin] # ERROR: Unsupported attribute
  }
}
