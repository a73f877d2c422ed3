deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  duration = { p50 = "1m", p99 = "5m" } # ERROR: Unsupported attribute
  command { argv = ["true"] }
}
