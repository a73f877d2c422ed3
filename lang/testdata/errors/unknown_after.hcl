deployment "d" {}
mode "m" {}
phase "p" {}
phase "q" {
  after = [phase.pp] # ERROR: Reference to undeclared phase
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
