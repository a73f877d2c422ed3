deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  duration = { p50 = "10m", p90 = "5m" } # ERROR: p90 is less than p50
  command { argv = ["true"] }
}
