deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  regions = ["westeurope", "northeurope", "westeurope"] # ERROR: Duplicate region
  command { argv = ["true"] }
}
