deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  regions  = ["a", "b"]
  replicas = 6000 # ERROR: Too many instances
  command { argv = ["true"] }
}
