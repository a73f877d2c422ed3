#!/usr/bin/env bash
# make bench: every area's benchmark, each printing its command and figures.
# BENCHMARKS.md records a run of this script.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for part in planner sim sched exec besu-local fidelity throttle terraform store shared-api; do
  script="scripts/bench-$part.sh"
  if [ -f "$script" ]; then
    echo "== $part"
    bash "$script" || status=1
  fi
done
exit $status
