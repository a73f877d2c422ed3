deployment "d" {}
mode "m" {}
phase "a" {
  after = [phase.c] # ERROR: Phase cycle
}
phase "b" {
  after = [phase.a]
}
phase "c" {
  after = [phase.b]
}
component "x" {
  phase = phase.a
  command { argv = ["true"] }
}
