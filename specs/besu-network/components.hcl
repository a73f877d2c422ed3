# Infrastructure: one module instance per region in one root module (one
# state), so the executor applies the ready regions as one terraform process
# with a -target each. 20 resources a region at -parallelism 10 take about
# 2 x 3m30s = 7m: 2.8 h for 24 regions one after another (published: 2-4 h).
component "infrastructure" {
  phase             = "infrastructure"
  driver            = "terraform"
  regions           = var.regions
  resources         = 20
  resource_duration = { p50 = "3m30s", p90 = "5m" }
  calls = {
    arm_writes = 60
    arm_reads  = 600
  }
  retries  = 2
  on_error = "skip_dependents"

  terraform {
    dir    = "terraform"
    target = "module.region_deployment[\"${each.region}\"]"
    vars = {
      regions           = var.regions
      arm_client_secret = var.arm_client_secret
    }
  }
}

# Cluster configuration per region: 1-2 h for all 24 regions.
component "kubernetes" {
  phase      = "kubernetes"
  driver     = "kubectl"
  regions    = var.regions
  depends_on = [component.infrastructure]
  duration   = { p50 = "3m30s", p90 = "5m" }
  calls = {
    arm_reads = 30
  }
  retries = 1

  kubectl {
    context   = "aks-${each.region}"
    manifests = ["k8s/cluster-config.yaml"]
    namespace = local.namespace
  }
}

# Two validators a region, 48 in all: 2-3 h for all 48 one after another.
component "besu" {
  phase      = "besu"
  driver     = "helm"
  regions    = var.regions
  replicas   = var.validators_per_region
  depends_on = [component.kubernetes]
  duration   = { p50 = "3m", p90 = "3m45s" }
  retries    = 1

  helm {
    context   = "aks-${each.region}"
    release   = format("validator-%d", each.replica)
    chart     = "charts/besu-validator"
    namespace = local.namespace
    values = {
      region   = each.region
      index    = each.replica
      chain_id = local.chain_id
    }
  }
}

# Smart contracts are deployed once, to the one chain, with ordered nonces:
# strictly non-parallel. Published: 1-2 h.
component "contracts" {
  phase      = "contracts"
  driver     = "command"
  parallel   = false
  depends_on = [component.besu]
  duration   = { p50 = "1h15m", p90 = "1h50m" }
  on_error   = "stop"

  command {
    argv = ["./scripts/deploy-contracts.sh", "--chain-id", tostring(local.chain_id)]
    env = {
      BESU_NAMESPACE = local.namespace
    }
  }
}

# Monitoring per region: 30-60 min for all 24 regions.
component "monitoring" {
  phase      = "monitoring"
  driver     = "helm"
  regions    = var.regions
  depends_on = [component.besu]
  duration   = { p50 = "1m45s", p90 = "2m30s" }
  on_error   = "continue"

  helm {
    context   = "aks-${each.region}"
    release   = "monitoring"
    chart     = "charts/monitoring"
    namespace = "monitoring"
    values = {
      region = each.region
    }
  }
}
