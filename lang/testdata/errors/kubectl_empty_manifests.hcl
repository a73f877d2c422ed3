deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  driver = "kubectl"
  kubectl {
    manifests = [] # ERROR: Empty manifests
  }
}
