deployment "d" {}
phase "p" {}
mode "m" {}
variable "n" {
  type    = number
  default = "many" # ERROR: Invalid default value for variable
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
