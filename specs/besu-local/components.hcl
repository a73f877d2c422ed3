component "infrastructure" {
  phase             = "infrastructure"
  driver            = "terraform"
  regions           = var.regions
  resources         = 20
  resource_duration = "3.5s"

  terraform {
    dir    = "terraform"
    target = "module.region_deployment[\"${each.region}\"]"
    vars = {
      regions       = var.regions
      sleep_seconds = 3.5
    }
  }
}

component "kubernetes" {
  phase      = "kubernetes"
  driver     = "command"
  regions    = var.regions
  depends_on = [component.infrastructure]
  duration   = "3.5s"

  command {
    argv = ["sleep", "3.5"]
  }
}

component "besu" {
  phase      = "besu"
  driver     = "command"
  regions    = var.regions
  replicas   = 2
  depends_on = [component.kubernetes]
  duration   = "3s"

  command {
    argv = ["sleep", "3"]
  }
}

component "contracts" {
  phase      = "contracts"
  driver     = "command"
  parallel   = false
  depends_on = [component.besu]
  duration   = "75s"

  command {
    argv = ["sleep", "75"]
  }
}

component "monitoring" {
  phase      = "monitoring"
  driver     = "command"
  regions    = var.regions
  depends_on = [component.besu]
  duration   = "1.75s"

  command {
    argv = ["sleep", "1.75"]
  }
}
