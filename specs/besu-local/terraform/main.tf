# The regional infrastructure as users write it: one root module, one state,
# one module instance per region. echelon applies regions with
# -target=module.region_deployment["<region>"].
#
# Resources are terraform_data with local-exec so the module runs anywhere
# without a provider download; sleep_seconds stands in for cloud latency.

terraform {
  required_version = ">= 1.5.0"
}

variable "regions" {
  type = list(string)
}

variable "arm_client_secret" {
  type      = string
  sensitive = true
  default   = ""
}

variable "sleep_seconds" {
  type    = number
  default = 0
}

module "region_deployment" {
  source   = "./modules/region"
  for_each = toset(var.regions)

  region        = each.key
  sleep_seconds = var.sleep_seconds
}

output "clusters" {
  value = { for r, m in module.region_deployment : r => m.cluster_name }
}
