deployment "d" {}
phase "p" {}
mode "m" {
  region_parallel       = -4 # ERROR: Invalid region_parallel
  terraform_parallelism = -10 # ERROR: Invalid terraform_parallelism
}
component "c" {
  phase = phase.p
  command { argv = ["true"] }
}
