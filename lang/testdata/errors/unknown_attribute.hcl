deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  depend_on = [] # ERROR: Unsupported argument
  command { argv = ["true"] }
}
