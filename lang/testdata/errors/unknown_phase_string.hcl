deployment "d" {}
mode "m" {}
phase "build" {}
component "c" {
  phase = "bild" # ERROR: Unknown phase
  command { argv = ["true"] }
}
