# A 24-region Hyperledger Besu network on Azure (every non-US region we
# deploy to), in five phases. Durations come from a published comparison of
# the same deployment; its sequential figures are for all 24 regions one
# after another, so one region's share is the figure divided by 24 (48 for
# the validators).

deployment "besu-network" {
  description  = "Hyperledger Besu validators on AKS in 24 non-US Azure regions"
  default_mode = "standard"
}

variable "regions" {
  type        = list(string)
  description = "Azure regions that run two Besu validators each."
  default = [
    "australiaeast", "brazilsouth", "centralindia", "eastasia",
    "francecentral", "germanywestcentral", "israelcentral", "italynorth",
    "japaneast", "koreacentral", "northeurope", "norwayeast",
    "polandcentral", "qatarcentral", "southafricanorth", "southeastasia",
    "southindia", "spaincentral", "swedencentral", "switzerlandnorth",
    "uaenorth", "uksouth", "ukwest", "westeurope",
  ]
}

variable "validators_per_region" {
  type    = number
  default = 2
}

variable "arm_client_secret" {
  type        = string
  description = "Service principal secret Terraform authenticates with."
  sensitive   = true
  default     = ""
}

locals {
  chain_id  = 20261
  namespace = "besu"
}
