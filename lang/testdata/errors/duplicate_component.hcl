deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
component "c" { # ERROR: Duplicate component
  phase = phase.p
  command { argv = ["true"] }
}
