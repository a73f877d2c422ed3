deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  regions  = ["a", "b"]
  replicas = each.replica # ERROR: Invalid reference
  command { argv = ["true"] }
}
