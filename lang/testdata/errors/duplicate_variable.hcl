deployment "d" {}
phase "p" {}
mode "m" {}
variable "x" { default = 1 }
variable "x" { default = 2 } # ERROR: Duplicate variable
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
