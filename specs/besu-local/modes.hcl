mode "standard" {
  phase_barrier         = true
  max_parallel          = 24
  terraform_parallelism = 50
  component_parallel = {
    besu = 24
  }
}

mode "ultra" {
  phase_barrier         = false
  max_parallel          = 0
  terraform_parallelism = 128
}
