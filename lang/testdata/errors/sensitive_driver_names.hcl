deployment "d" {}
variable "token" {
  type      = string
  sensitive = true
  default   = "Leak Me"
}
phase "p" {}
mode "m" {}
component "tf" {
  phase    = "p"
  duration = "1m"
  terraform {
    dir       = var.token # ERROR: Sensitive value not allowed here
    target    = var.token # ERROR: Sensitive value not allowed here
    workspace = var.token # ERROR: Sensitive value not allowed here
    vars      = { password = var.token }
  }
}
component "k" {
  phase    = "p"
  duration = "1m"
  kubectl {
    context   = var.token
    namespace = var.token
    manifests = ["a.yaml", var.token] # ERROR: Sensitive value not allowed here
  }
}
component "h" {
  phase    = "p"
  duration = "1m"
  helm {
    context   = var.token
    namespace = var.token
    release   = var.token # ERROR: Sensitive value not allowed here
    chart     = var.token # ERROR: Sensitive value not allowed here
    values    = { password = var.token }
  }
}
component "c" {
  phase    = "p"
  duration = "1m"
  command {
    argv = ["deploy", var.token]
    env  = { T = var.token }
    dir  = var.token # ERROR: Sensitive value not allowed here
  }
}
