deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase    = phase.p
  duration = "0s" # ERROR: Invalid duration
  command { argv = ["true"] }
}
component "e" {
  phase    = phase.p
  duration = { p50 = "0s", p90 = "1m" } # ERROR: Invalid duration
  command { argv = ["true"] }
}
