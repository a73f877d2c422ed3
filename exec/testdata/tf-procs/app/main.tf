# Every region in one state (the default workspace), one -target each: the
# ready instances are one coalesced apply. terraform_data.shared is under no
# target: terraform applies it with the first target that depends on it.
variable "regions" {
  type = list(string)
}

resource "terraform_data" "shared" {
  input = "shared"
}

resource "terraform_data" "region" {
  for_each = toset(var.regions)
  input    = "${each.key}:${terraform_data.shared.output}"
}
