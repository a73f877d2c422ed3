#!/usr/bin/env bash
# make bench, simulator part: events per second of one core, and the time of
# 10,000 trials of specs/besu-network (standard and ultra) on every core.
# Figures go to BENCHMARKS.md (section "Simulator").
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=(go test ./sim -run '^$' -bench 'EventsPerCore|Besu10kTrials' -benchtime "${BENCHTIME:-3s}" -count 1)
echo "+ ${cmd[*]}"
echo "cores: $(nproc), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"${cmd[@]}" | grep -E '^(Benchmark|goos|goarch|cpu|ok|FAIL)'
