deployment "d" {}
phase "p" {}
mode "m" {}
api "arm" {
  rate = 5
  retry {
    max_attempts = 0 # ERROR: Invalid max_attempts
    backoff      = "10s"
    max_backoff  = "5s" # ERROR: Invalid max_backoff
  }
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
