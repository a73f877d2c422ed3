deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  replicas = 2.5 # ERROR: Invalid replicas
  command { argv = ["true"] }
}
