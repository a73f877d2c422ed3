deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  replicas = lenght([1, 2]) # ERROR: Call to unknown function
  command { argv = ["true"] }
}
