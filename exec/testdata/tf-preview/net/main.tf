# One state per region (workspace = each.region in the spec).
variable "region" {
  type = string
}

resource "terraform_data" "net" {
  input = "${terraform.workspace}/${var.region}"
}
