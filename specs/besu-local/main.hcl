# specs/besu-network at 1/60 scale, runnable on one machine: every minute of
# the flagship is a second here. The same 24 regions, phases, dependencies,
# replicas and modes; Terraform is a real root module with one
# module.region_deployment per region whose resources sleep; the Kubernetes,
# Besu, contract and monitoring steps are commands that sleep.

deployment "besu-local" {
  description  = "specs/besu-network at 1/60 time scale, runnable locally"
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
