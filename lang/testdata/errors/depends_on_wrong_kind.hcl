deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  depends_on = [phase.p] # ERROR: Invalid reference
  command { argv = ["true"] }
}
