# An application server set deployed the way SAP's Deploy Controller does it
# in parallel: shared libraries first, then online applications side by side;
# an offline application (it needs a server restart) and one whose EJB
# container cannot take parallel deployments each run alone.

deployment "java-cluster" {
  description  = "Shared libraries and applications on a three-node application server set"
  default_mode = "parallel"
}

variable "nodes" {
  type        = list(string)
  description = "Server nodes of the set; each gets every library and application."
  default     = ["node-a", "node-b", "node-c"]
}

locals {
  deploy = ["./bin/deploy", "--server"]
}

phase "libraries" {}

phase "applications" {
  after = [phase.libraries]
}

mode "serial" {
  phase_barrier = true
  batch_barrier = true
  max_parallel  = 1
}

mode "parallel" {
  phase_barrier = true
  batch_barrier = true
  max_parallel  = 8
}

mode "rolling" {
  phase_barrier   = false
  max_parallel    = 0
  region_parallel = 1
}

component "lib-logging" {
  phase    = "libraries"
  driver   = "command"
  regions  = var.nodes
  duration = "20s"

  command {
    argv = concat(local.deploy, [each.region, "lib-logging.jar"])
  }
}

component "lib-persistence" {
  phase      = "libraries"
  driver     = "command"
  regions    = var.nodes
  depends_on = [component.lib-logging]
  duration   = { p50 = "30s", p90 = "45s" }

  command {
    argv = concat(local.deploy, [each.region, "lib-persistence.jar"])
  }
}

component "orders" {
  phase      = "applications"
  driver     = "command"
  regions    = var.nodes
  depends_on = [component.lib-persistence, component.lib-logging]
  duration   = { p50 = "1m30s", p90 = "2m30s" }
  retries    = 1

  command {
    argv = concat(local.deploy, [each.region, "orders.ear"])
  }
}

component "catalog" {
  phase      = "applications"
  driver     = "command"
  regions    = var.nodes
  depends_on = [component.lib-persistence]
  duration   = { p50 = "1m", p90 = "1m40s" }

  command {
    argv = concat(local.deploy, [each.region, "catalog.ear"])
  }
}

component "storefront" {
  phase      = "applications"
  driver     = "command"
  regions    = var.nodes
  depends_on = [component.catalog, component.orders]
  duration   = { p50 = "45s", p90 = "1m15s" }

  command {
    argv = concat(local.deploy, [each.region, "storefront.war"])
  }
}

# Changes the server's JVM settings: an offline deployment with a restart.
component "billing" {
  phase      = "applications"
  driver     = "command"
  regions    = var.nodes
  depends_on = [component.lib-persistence]
  restart    = true
  duration   = { p50 = "3m", p90 = "4m" }

  command {
    argv = concat(local.deploy, [each.region, "billing.ear", "--offline"])
  }
}

# Its EJB container keeps a singleton timer service that cannot be deployed
# while another deployment is in flight.
component "reporting" {
  phase      = "applications"
  driver     = "command"
  regions    = var.nodes
  depends_on = [component.lib-logging]
  duration   = "1m"
  on_error   = "continue"

  container "web" {
    parallel = true
  }

  container "ejb" {
    parallel = false
  }

  command {
    argv = concat(local.deploy, [each.region, "reporting.ear"])
  }
}
