deployment "d" {}
phase "p" {}
mode "m" {}
# Terraform keeps workspace state in terraform.tfstate.d/NAME: a name that
# path-escaping would change is refused (terraform's validWorkspaceName),
# and so are "." and "..".
component "up" {
  phase = phase.p
  terraform {
    dir       = "."
    workspace = "../../../x" # ERROR: Invalid workspace name
  }
}
component "space" {
  phase = phase.p
  terraform {
    dir       = "."
    workspace = "my ws" # ERROR: Invalid workspace name
  }
}
component "dotdot" {
  phase = phase.p
  terraform {
    dir       = "."
    workspace = ".." # ERROR: Invalid workspace name
  }
}
component "regional" {
  phase   = phase.p
  regions = ["eu", "us"]
  terraform {
    dir       = "."
    workspace = "prod/${each.region}" # ERROR: Invalid workspace name
  }
}
component "fine" {
  phase   = phase.p
  regions = ["eu", "us"]
  terraform {
    dir       = "."
    workspace = "prod-${each.region}_v1.2"
  }
}
