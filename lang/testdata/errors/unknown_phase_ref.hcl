deployment "d" {}
mode "m" {}
phase "build" {}
component "c" {
  phase = phase.biuld # ERROR: Reference to undeclared phase
  command { argv = ["true"] }
}
