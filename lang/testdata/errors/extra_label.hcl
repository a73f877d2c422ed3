deployment "d" {}
phase "p" "q" {} # ERROR: Extraneous label for phase
mode "m" {}
component "c" {
  phase = "q" # ERROR: Unknown phase
  command { argv = ["true"] }
}
