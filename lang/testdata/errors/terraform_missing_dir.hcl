deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  driver = "terraform"
  terraform { # ERROR: Missing required argument
    target = "module.x"
  }
}
