# The totals the published comparison claims for each mode, as budgets
# `echelon simulate --check` holds the prediction to (P50 the middle of the
# claimed range, P90 its top).
#
# All four FAIL, on purpose: that is the point of this example. The
# simulator, given the same regions, resources, dependencies and ARM
# limits, predicts every mode slower than the comparison claims (standard
# about 2h8m against 65m), so `simulate specs/besu-network --mode all
# --check` exits 1 naming each broken budget. Write your own budgets as
# the times you promise; --check then fails a change that breaks them.

budget "sequential" {
  description = "the published claim for sequential; the prediction breaks it, on purpose"
  mode        = "sequential"
  p50         = "7h"
  p90         = "9h"
}

budget "standard" {
  description = "the published claim for standard; the prediction breaks it, on purpose"
  mode        = "standard"
  p50         = "65m"
  p90         = "85m"
}

budget "maximum" {
  description = "the published claim for maximum; the prediction breaks it, on purpose"
  mode        = "maximum"
  p50         = "45m"
  p90         = "60m"
}

budget "ultra" {
  description = "the published claim for ultra; the prediction breaks it, on purpose"
  mode        = "ultra"
  p50         = "30m"
  p90         = "40m"
}
