# The four modes users know. Caps that are 0 mean "no cap".

mode "sequential" {
  phase_barrier         = true
  max_parallel          = 1
  region_parallel       = 1
  terraform_parallelism = 10
}

mode "standard" {
  phase_barrier         = true
  max_parallel          = 24
  terraform_parallelism = 50
  # One validator per region at a time.
  component_parallel = {
    besu = 24
  }
}

mode "maximum" {
  phase_barrier         = true
  max_parallel          = 0
  terraform_parallelism = 128
}

mode "ultra" {
  phase_barrier         = false
  max_parallel          = 0
  terraform_parallelism = 128
}
