deployment "d" {}
phase "p" {}
mode "m" {}
variable "regions" {
  default = ["eu", "EU"]
}
component "c" {
  phase = phase.p
  regions = var.regions # ERROR: Invalid name
  command { argv = ["true"] }
}
