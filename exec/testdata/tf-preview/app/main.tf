# Every region in one state (the default workspace), one -target each.
# terraform_data.shared is under no target; label changes it and, through
# its output, every region: an update each.
variable "regions" {
  type = list(string)
}

variable "label" {
  type = string
}

resource "terraform_data" "shared" {
  input = "shared:${var.label}"
}

resource "terraform_data" "region" {
  for_each = toset(var.regions)
  input    = "${each.key}:${terraform_data.shared.output}"
}
