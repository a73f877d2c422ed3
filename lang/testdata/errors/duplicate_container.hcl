deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  container "web" {}
  container "web" {} # ERROR: Duplicate container
  command { argv = ["true"] }
}
