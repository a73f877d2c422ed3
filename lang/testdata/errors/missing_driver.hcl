deployment "d" {}
phase "p" {}
mode "m" {}
component "c" { # ERROR: Missing driver
  phase = phase.p
}
