deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  command {
    argv = [] # ERROR: Empty argv
  }
}
