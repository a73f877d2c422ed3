# Stand-in for a region's cloud resources: each resource makes one call to
# the (throttling) API. curl -f fails on 429 and -D prints the response
# headers, so the error terraform reports carries "429 Too Many Requests"
# and "Retry-After: N". A failed create taints the resource, so the next
# apply calls again.
variable "region" {
  type = string
}

variable "api" {
  type = string
}

variable "calls" {
  type = number
}

resource "terraform_data" "call" {
  count = var.calls
  input = "${var.region}-${count.index}"

  provisioner "local-exec" {
    command = "curl -sS -f -D /dev/stderr -o /dev/null '${var.api}/call/deploy?region=${var.region}'"
  }
}
