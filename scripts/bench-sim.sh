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

# The shared scheduling policy (package sched) against the simulator before
# it (SIM_BASE, default the last commit before sched), in one run: the same
# benchmarks, interleaved ROUNDS times, and instructions per trial counted by
# callgrind (repeatable whatever the load) where valgrind is installed.
base=${SIM_BASE:-3200e07}
if git cat-file -e "$base^{commit}" 2>/dev/null; then
  work=$(mktemp -d)
  trap 'git worktree remove --force "$work/base" >/dev/null 2>&1; rm -rf "$work"' EXIT
  git worktree add -q --detach "$work/base" "$base"
  (cd "$work/base" && go test -c -o "$work/old.test" ./sim)
  go test -c -o "$work/new.test" ./sim
  echo "+ old ($base) vs new ($(git rev-parse --short HEAD)), ${ROUNDS:-3} rounds interleaved; load $(cut -d' ' -f1-3 /proc/loadavg)"
  for i in $(seq "${ROUNDS:-3}"); do
    for v in old new; do
      dir=sim; [ $v = old ] && dir="$work/base/sim"
      (cd "$dir" && "$work/$v.test" -test.run '^$' -test.bench 'EventsPerCore|Besu10kTrials' -test.benchtime "${BENCHTIME:-1s}") |
        grep -E '^Benchmark' | sed "s/^/$v /"
    done
  done | tee "$work/runs.txt"
  awk '$1=="old"||$1=="new" { for (i=3;i<=NF;i++) if ($i=="events/cpu-s") { k=$2; sum[$1" "k]+=$(i-1); n[$1" "k]++ } }
       END { for (x in sum) { split(x,a," "); if (a[1]=="new") { o=sum["old "a[2]]/n["old "a[2]]; m=sum[x]/n[x];
             printf "%-40s events/cpu-s old %.3gM new %.3gM, new/old %.3f\n", a[2], o/1e6, m/1e6, m/o } } }' "$work/runs.txt" | sort
  if command -v valgrind >/dev/null; then
    for v in old new; do
      dir=sim; [ $v = old ] && dir="$work/base/sim"
      for n in 1000 3000; do
        (cd "$dir" && GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file="$work/cg.$v.$n" \
          "$work/$v.test" -test.run '^$' -test.bench 'EventsPerCore/besu-standard' -test.benchtime "${n}x" -test.cpu 1 >"$work/cg.$v.$n.log" 2>&1)
      done
      a=$(grep -o 'Collected : [0-9]*' "$work/cg.$v.1000.log" | grep -o '[0-9]*$')
      b=$(grep -o 'Collected : [0-9]*' "$work/cg.$v.3000.log" | grep -o '[0-9]*$')
      echo "$v instructions per besu-standard trial (callgrind, 3000 minus 1000 trials): $(( (b - a) / 2000 ))"
    done
  fi
fi

# simulate of generated 10k and 100k-operation plans, 100 trials with the
# recommendation search (issue 13's goal: t(100k)/t(10k) <= 11, 100k under
# 15 s on two cores).
work2=$(mktemp -d)
go build -o "$work2/echelon" ./cmd/echelon
go build -o "$work2/specgen" ./planner/internal/specgen/cmd/specgen
declare -A secs
for n in 10000 100000; do
  "$work2/specgen" -ops "$n" -dir "$work2/s$n" >/dev/null
  "$work2/echelon" compile "$work2/s$n" -o "$work2/s$n.plan" >/dev/null 2>&1
  start=$(date +%s.%N)
  "$work2/echelon" simulate "$work2/s$n.plan" --trials 100 >/dev/null 2>&1
  secs[$n]=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  echo "simulate --trials 100 of $n operations: ${secs[$n]} s (load $(cut -d' ' -f1 /proc/loadavg))"
done
echo "t(100k)/t(10k) = $(awk -v a="${secs[10000]}" -v b="${secs[100000]}" 'BEGIN { printf "%.2f", b / a }') (goal <= 11; 100k goal < 15 s)"
rm -rf "$work2"
