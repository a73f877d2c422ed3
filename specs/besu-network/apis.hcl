# Azure Resource Manager throttles per subscription: 1,200 writes and 12,000
# reads an hour. A token bucket with an hour's allowance as its burst and the
# hourly rate as its refill models that window.
api "arm_writes" {
  rate  = 1200 / 3600
  burst = 1200
  scope = "deployment"
  retry {
    max_attempts = 8
    backoff      = "5s"
    max_backoff  = "2m"
  }
}

api "arm_reads" {
  rate  = 12000 / 3600
  burst = 12000
  scope = "deployment"
  retry {
    max_attempts = 8
    backoff      = "2s"
    max_backoff  = "1m"
  }
}
