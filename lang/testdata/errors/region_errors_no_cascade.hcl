deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase    = phase.p
  regions  = ["EU West"] # ERROR: Invalid name
  duration = "1m"
  command { argv = ["deploy", each.region] }
}
component "e" {
  phase    = phase.p
  regions  = [] # ERROR: Empty regions
  duration = "1m"
  command { argv = ["deploy", each.region] }
}
