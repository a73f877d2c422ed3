deployment "d" {}
phase "p" {}
mode "m" {}
component "infra" {
  phase        = "p"
  regions      = ["eu"]
  mock_outputs = { cluster_id = "mock" }
  terraform { dir = "." }
}
component "bare" {
  phase = "p"
  terraform { dir = "." }
}
component "app" {
  phase    = "p"
  regions  = ["eu"]
  duration = "1s"
  command {
    argv = ["echo", output.infra[each.region].clusterid] # ERROR: Undeclared output
    env = {
      A = output.infra.eu.nope # ERROR: Undeclared output
      B = output.bare.id       # ERROR: Undeclared output
      C = output.nosuch.id     # ERROR: Reference to undeclared component
      D = output.app.x         # ERROR: Output of a non-terraform component
      E = output.infra.nope    # ERROR: Unknown region
      F = output.infra["us"].cluster_id # ERROR: Unknown region
    }
  }
}
