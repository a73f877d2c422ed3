deployment "d" {}
phase "p" {}
mode "m" {}
component "c" {
  phase = phase.p
  terraform { dir = "a" }
  terraform { dir = "b" } # ERROR: Duplicate terraform block
}
