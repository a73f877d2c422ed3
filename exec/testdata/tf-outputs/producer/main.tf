# A producer: one workspace per region, outputs other components read.
resource "terraform_data" "cluster" {
  input = "cluster-${terraform.workspace}"
}

output "cluster_id" {
  value = terraform_data.cluster.output
}

output "token" {
  value     = "tok-${terraform.workspace}-Sekr3t"
  sensitive = true
}
