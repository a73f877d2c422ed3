deployment "d" {}
phase "p" {}
mode "m" {}
variable "regions" { default = ["a"] }
component "c" {
  phase = phase.p
  regions = var.region # ERROR: Reference to undeclared input variable
  command { argv = ["true"] }
}
