deployment "d" {}
mode "m" {}
phase "p" {
  after = [phase.p] # ERROR: Phase cycle
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
