#!/usr/bin/env bash
# make bench, scheduling policy part: the differential test of sim against
# exec on many more random plans than make test runs, and the real check
# (sleeping commands applied next to their --trials 1 prediction) with its
# 5% makespan bound, which is a time limit and so lives here, not in go test.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "cores: $(nproc), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
cmd=(env ECHELON_DIFF_PLANS="${DIFF_PLANS:-5000}" go test ./exec -run '^TestDifferentialSimExec$' -count 1 -v)
echo "+ ${cmd[*]}"
"${cmd[@]}" | grep -E 'plans,|^(---|ok|FAIL)'
cmd=(env ECHELON_BENCH=1 go test ./cmd/echelon -run '^TestTraceMatchesApply$' -count 1 -v)
echo "+ ${cmd[*]}"
"${cmd[@]}" | grep -E 'predicted .* actual|^(---|ok|FAIL)'
