deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  replicas = 0 # ERROR: Invalid replicas
  command { argv = ["true"] }
}
