deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  duration = { p90 = "5m" } # ERROR: Missing p50
  command { argv = ["true"] }
}
