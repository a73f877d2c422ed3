deployment "d" {}
phase "p" {}
mode "m" {}
component { # ERROR: Missing name for component
  phase = phase.p
  command { argv = ["true"] }
}
