deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  resource_duration = { p50 = "2m", p90 = "1m" } # ERROR: p90 is less than p50
  command { argv = ["true"] }
}
