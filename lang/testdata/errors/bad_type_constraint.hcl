deployment "d" {}
phase "p" {}
mode "m" {}
variable "n" {
  type    = lisst(string) # ERROR: Invalid type specification
  default = []
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
