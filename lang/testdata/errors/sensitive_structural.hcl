deployment "d" {}
variable "token" {
  type      = string
  sensitive = true
  default   = "Leak Me"
}
variable "n" {
  type      = number
  sensitive = true
  default   = 2
}
phase "p" {}
mode "m" {
  max_parallel = var.n # ERROR: Sensitive value not allowed here
}
api "a" {
  rate  = var.n # ERROR: Sensitive value not allowed here
  scope = var.token # ERROR: Sensitive value not allowed here
}
component "c" {
  phase    = "p"
  driver   = "command"
  regions  = [lower(var.token)] # ERROR: Sensitive value not allowed here
  replicas = var.n # ERROR: Sensitive value not allowed here
  duration = var.token # ERROR: Sensitive value not allowed here
  on_error = var.token # ERROR: Sensitive value not allowed here
  retries  = var.n # ERROR: Sensitive value not allowed here
  calls    = { a = var.n } # ERROR: Sensitive value not allowed here
  command {
    # Driver settings may be sensitive: the executor redacts them.
    argv = ["deploy", var.token, each.region]
    env  = { T = var.token }
  }
}
component "d" {
  phase      = var.token # ERROR: Sensitive value not allowed here
  depends_on = [var.token] # ERROR: Sensitive value not allowed here
  parallel   = var.token # ERROR: Sensitive value not allowed here
  duration   = "1m"
  terraform {
    dir  = "."
    vars = { password = var.token }
  }
}
budget "b" {
  mode = "m"
  p50  = var.token # ERROR: Sensitive value not allowed here
}
