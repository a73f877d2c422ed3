deployment "d" {}
phase "p" {}
mode "m" {}
api "arm" {
  rate  = 5
  scope = "regional" # ERROR: Invalid scope
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
