deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  replicas = vars.n # ERROR: Unknown variable
  command { argv = ["true"] }
}
