# One workspace per region (workspace = each.region in the spec): each
# region has its own state and its own terraform process. The secret comes
# from a sensitive echelon variable, which the plan file never holds.
variable "regions" {
  type = list(string)
}

variable "secret" {
  type = string
}

module "region_deployment" {
  source   = "./modules/region"
  for_each = toset(var.regions)

  region = each.key
  secret = var.secret
}
