# A region-per-module layout as users write it: one state, one
# module.region_deployment per region; echelon applies each region with
# -target=module.region_deployment["REGION"].
variable "api" {
  type = string
}

variable "regions" {
  type = list(string)
}

variable "calls" {
  type    = number
  default = 3
}

module "region_deployment" {
  source   = "./modules/region"
  for_each = toset(var.regions)

  region = each.key
  api    = var.api
  calls  = var.calls
}
