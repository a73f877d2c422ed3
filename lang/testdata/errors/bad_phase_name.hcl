deployment "d" {}
mode "m" {}
phase "p" {}
phase "_infra" {} # ERROR: Invalid name
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
