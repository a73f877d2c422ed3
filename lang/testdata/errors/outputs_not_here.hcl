deployment "d" {}
phase "p" {}
mode "m" {}
locals {
  x = output.infra.id # ERROR: Output not allowed here
}
component "infra" {
  phase        = "p"
  mock_outputs = { id = "mock" }
  terraform { dir = "." }
}
component "cmd" {
  phase        = "p"
  duration     = output.infra.id # ERROR: Output not allowed here
  mock_outputs = { x = 1 }       # ERROR: Outputs of a non-terraform component
  command {
    argv = ["true"]
    dir  = output.infra.id # ERROR: Output not allowed here
  }
}
component "tf" {
  phase = "p"
  terraform {
    dir    = "."
    target = output.infra.id # ERROR: Output not allowed here
  }
}
