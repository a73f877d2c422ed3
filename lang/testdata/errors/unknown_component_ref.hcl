deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
component "e" {
  phase = phase.p
  depends_on = [component.cc] # ERROR: Reference to undeclared component
  command { argv = ["true"] }
}
