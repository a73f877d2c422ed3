deployment "d" {}
phase "p" {}
mode "m" {}
# binary names the program, terraform or tofu (OpenTofu): not a path, not
# another program, not a number.
component "path" {
  phase = phase.p
  terraform {
    dir    = "a"
    binary = "/usr/local/bin/tofu" # ERROR: Invalid terraform binary
  }
}
component "typo" {
  phase = phase.p
  terraform {
    dir    = "b"
    binary = "tofo" # ERROR: Invalid terraform binary
  }
}
component "number" {
  phase = phase.p
  terraform {
    dir    = "c"
    binary = 1 # ERROR: Invalid terraform binary
  }
}
# One directory, one binary: terraform in "net" and tofu in "net2" share
# the directory "shared" (written differently).
component "net" {
  phase   = phase.p
  regions = ["eu", "us"]
  terraform {
    dir       = "shared"
    workspace = each.region
  }
}
component "net2" {
  phase   = phase.p
  regions = ["eu", "us"]
  terraform {
    dir       = "./shared/"
    workspace = "two-${each.region}"
    binary    = "tofu" # ERROR: One terraform directory, two binaries
  }
}
component "fine" {
  phase   = phase.p
  regions = ["eu", "us"]
  terraform {
    dir    = "d"
    binary = "tofu"
  }
}
component "also_fine" {
  phase = phase.p
  terraform {
    dir    = "d"
    binary = "tofu"
  }
}
component "explicit" {
  phase = phase.p
  terraform {
    dir    = "shared"
    binary = "terraform"
  }
}
