# A consumer: writes what it was given beside the module, one file per
# workspace (the token through the environment, as terraform masks it).
variable "cluster" {
  type = string
}

variable "token" {
  type      = string
  sensitive = true
}

resource "terraform_data" "app" {
  input = var.cluster

  provisioner "local-exec" {
    command     = "printf '%s %s' \"$CLUSTER\" \"$TOKEN\" > got-${terraform.workspace}; echo token=$TOKEN"
    environment = { CLUSTER = var.cluster, TOKEN = var.token }
  }
}
