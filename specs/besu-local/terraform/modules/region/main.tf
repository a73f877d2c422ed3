variable "region" {
  type = string
}

variable "sleep_seconds" {
  type = number
}

resource "terraform_data" "resource" {
  for_each = toset([
    "resource-group", "vnet", "subnet-nodes", "subnet-pods", "nsg",
    "public-ip", "load-balancer", "key-vault", "log-analytics", "aks-cluster",
    "node-pool-system", "node-pool-besu", "storage-account", "private-dns",
    "route-table", "nat-gateway", "container-registry", "managed-identity",
    "role-assignment", "disk-encryption-set",
  ])

  input = "${var.region}/${each.key}"

  provisioner "local-exec" {
    command = "sleep ${var.sleep_seconds}"
  }
}

output "cluster_name" {
  value = "aks-${var.region}"
}
