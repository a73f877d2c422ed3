deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  driver = "helm" # ERROR: Missing helm block
}
