deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  driver = "terraform2" # ERROR: Unknown driver
  command { argv = ["true"] }
}
