deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  driver = "helm"
  helm { # ERROR: Missing required argument
    release = "r"
  }
}
