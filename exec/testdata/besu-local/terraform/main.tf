# specs/besu-network's infrastructure shape, locally: one root module, one
# module.region_deployment per region, resources that take time (a sleep)
# instead of cloud calls.
variable "regions" {
  type = list(string)
}

variable "resources" {
  type = number
}

variable "seconds" {
  type = number
}

module "region_deployment" {
  source   = "./modules/region"
  for_each = toset(var.regions)

  region    = each.key
  resources = var.resources
  seconds   = var.seconds
}
