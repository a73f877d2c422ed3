variable "region" {
  type = string
}

variable "secret" {
  type = string
}

# Creating writes deployed-REGION-WORKSPACE holding the secret; destroying
# writes destroyed-REGION (a destroy provisioner may only use self).
resource "terraform_data" "app" {
  input = {
    region = var.region
    dir    = abspath(path.root)
  }

  provisioner "local-exec" {
    command = "printf %s \"$SECRET\" > '${abspath(path.root)}/deployed-${var.region}-${terraform.workspace}'"
    environment = {
      SECRET = var.secret
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "touch '${self.input.dir}/destroyed-${self.input.region}'"
  }
}
