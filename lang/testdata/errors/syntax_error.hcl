deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  replicas = = 2 # ERROR: Invalid expression
  command { argv = ["true"] }
}
