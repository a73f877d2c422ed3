deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  retries   = -1 # ERROR: Invalid retries
  resources = -3 # ERROR: Invalid resources
  command { argv = ["true"] }
}
