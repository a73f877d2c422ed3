# specs/besu-network's shape (24 regions, five phases, two validators a
# region, contracts alone) with local stand-ins: terraform_data resources
# that sleep, and commands that sleep, for minutes measured in seconds.
# `echelon simulate` predicts it; `echelon apply` runs it for real.

deployment "besu-local" {
  default_mode = "standard"
}

variable "regions" {
  type = list(string)
  default = [
    "australiaeast", "brazilsouth", "centralindia", "eastasia",
    "francecentral", "germanywestcentral", "israelcentral", "italynorth",
    "japaneast", "koreacentral", "northeurope", "norwayeast",
    "polandcentral", "qatarcentral", "southafricanorth", "southeastasia",
    "southindia", "spaincentral", "swedencentral", "switzerlandnorth",
    "uaenorth", "uksouth", "ukwest", "westeurope",
  ]
}

phase "infrastructure" {}
phase "kubernetes" {}
phase "besu" {}
phase "contracts" {}
phase "monitoring" {}

mode "standard" {
  phase_barrier         = true
  max_parallel          = 24
  terraform_parallelism = 50
}

component "infrastructure" {
  phase             = phase.infrastructure
  driver            = "terraform"
  regions           = var.regions
  resources         = 4
  resource_duration = "2s"
  retries           = 1
  on_error          = "skip_dependents"
  terraform {
    dir    = "terraform"
    target = "module.region_deployment[\"${each.region}\"]"
    vars = {
      regions   = var.regions
      resources = 4
      seconds   = 2
    }
  }
}

component "kubernetes" {
  phase      = phase.kubernetes
  driver     = "command"
  regions    = var.regions
  depends_on = [component.infrastructure]
  duration   = "3s"
  command {
    argv = ["sleep", "3"]
  }
}

component "besu" {
  phase      = phase.besu
  driver     = "command"
  regions    = var.regions
  replicas   = 2
  depends_on = [component.kubernetes]
  duration   = "2s"
  command {
    argv = ["sleep", "2"]
  }
}

component "contracts" {
  phase      = phase.contracts
  driver     = "command"
  parallel   = false
  depends_on = [component.besu]
  duration   = "5s"
  command {
    argv = ["sleep", "5"]
  }
}

component "monitoring" {
  phase      = phase.monitoring
  driver     = "command"
  regions    = var.regions
  depends_on = [component.contracts]
  duration   = "1500ms"
  on_error   = "continue"
  command {
    argv = ["sleep", "1.5"]
  }
}
