deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  driver = "terraform"
  terraform { dir = "tf" }
  kubectl { # ERROR: Unexpected kubectl block
    manifests = ["a.yaml"]
  }
}
