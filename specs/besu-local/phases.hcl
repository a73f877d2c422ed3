phase "infrastructure" {}

phase "kubernetes" {
  after = [phase.infrastructure]
}

phase "besu" {
  after = [phase.kubernetes]
}

phase "contracts" {
  after = [phase.besu]
}

phase "monitoring" {
  after = [phase.contracts]
}
