variable "region" {
  type = string
}

variable "resources" {
  type = number
}

variable "seconds" {
  type = number
}

resource "terraform_data" "resource" {
  count = var.resources
  input = "${var.region}-${count.index}"

  provisioner "local-exec" {
    command = "sleep ${var.seconds}"
  }
}
