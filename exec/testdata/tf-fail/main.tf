# One state, one module instance per region; the regions listed in `fail`
# fail to apply (their local-exec exits 1), the others succeed. `broken`
# fails the plan with an error that names no resource (variable validations
# would not do: -target skips them).
variable "regions" {
  type = list(string)
}

variable "fail" {
  type    = list(string)
  default = []
}

variable "broken" {
  type    = bool
  default = false
}

module "region_deployment" {
  source   = "./modules/region"
  for_each = toset(var.regions)

  region = var.broken ? file("/nonexistent/broken-on-purpose") : each.key
  fail   = contains(var.fail, each.key)
}
