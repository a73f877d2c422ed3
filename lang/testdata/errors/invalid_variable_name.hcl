deployment "d" {}
phase "p" {}
mode "m" {}
variable "my var" { default = 1 } # ERROR: Invalid name
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
