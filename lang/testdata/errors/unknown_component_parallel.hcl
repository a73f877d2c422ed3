deployment "d" {}
phase "p" {}
mode "m" {
  component_parallel = {
    cc = 2 # ERROR: Unknown component
  }
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
