# The totals the published comparison claims for each mode, as budgets
# `echelon simulate --check` holds the prediction to (P50 the middle of the
# claimed range, P90 its top).

budget "sequential" {
  mode = "sequential"
  p50  = "7h"
  p90  = "9h"
}

budget "standard" {
  mode = "standard"
  p50  = "65m"
  p90  = "85m"
}

budget "maximum" {
  mode = "maximum"
  p50  = "45m"
  p90  = "60m"
}

budget "ultra" {
  mode = "ultra"
  p50  = "30m"
  p90  = "40m"
}
