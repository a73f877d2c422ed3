deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
component "Web_App" { # ERROR: Invalid name
  phase = phase.p
  command { argv = ["true"] }
}
