variable "region" {
  type = string
}

variable "fail" {
  type = bool
}

# A failed create taints the resource, so every apply runs it again.
resource "terraform_data" "deploy" {
  input = var.region

  provisioner "local-exec" {
    command = var.fail ? "echo ${var.region} cannot deploy >&2; exit 1" : "echo ${var.region} deployed"
  }
}
