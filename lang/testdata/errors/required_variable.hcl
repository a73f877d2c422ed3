deployment "d" {}
phase "p" {}
mode "m" {}
variable "token" { # ERROR: No value for required variable
  type = string
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
