deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  replicas = "two" # ERROR: Incorrect attribute value type
  command { argv = ["true"] }
}
