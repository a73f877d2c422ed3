#!/usr/bin/env bash
# Executor overhead: 10,000 no-op command operations (argv ["true"]) run by
# `echelon apply` at 24-way (max_parallel = 24) against `xargs -P 24`
# running the same command, in one run. Each side runs ROUNDS times
# (default 2), interleaved, and the best of each is compared: the machine is
# shared, and the best run is the least disturbed one. Prints the ratio
# (goal <= 1.15) and echelon's peak memory (goal <= 150 MB). The apply does
# everything a real one does: digest checks, a lock set per operation in the
# state directory's lock table, a durable (fsync'ed) journal record before
# and after each operation, a log file per operation.
#
# Then the same operations with no cap (max_parallel = 0: every one in
# flight at once, so 10,000 lock sets held together) against
# max_parallel = 64, best of ROUNDS each: the lock store's cost per acquire
# must not grow with the holders (goal: no cap within 1.3x of 64-way).
# CAPS=0 skips this part.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
P=${P:-24}
ROUNDS=${ROUNDS:-2}
CAPS=${CAPS:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

go build -o "$work/echelon" ./cmd/echelon
regions=$(( N / 10 ))
cat > "$work/spec.hcl" <<HCL
deployment "bench" {}

phase "main" {}

mode "m$P" {
  max_parallel = $P
}

mode "cap64" {
  max_parallel = 64
}

mode "nocap" {
  max_parallel = 0
}

component "noop" {
  phase    = phase.main
  driver   = "command"
  regions  = [for i in range($regions) : format("r%05d", i)]
  replicas = 10
  command {
    argv = ["true"]
  }
}
HCL
"$work/echelon" compile "$work/spec.hcl" --mode "m$P" -o "$work/plan.json"

# peak_rss CMD...: runs CMD, prints its wall seconds and peak RSS (KiB) of
# the process tree's largest member.
measure() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
wall = time.monotonic() - t
print(f"{wall:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY
}

best_e=""; best_x=""; peak=0
for r in $(seq "$ROUNDS"); do
  rm -rf "$work/state"
  read -r e rss < <(measure "$work/echelon" apply "$work/plan.json" --state "$work/state")
  read -r x _ < <(measure bash -c "seq $N | xargs -P $P -n 1 true")
  echo "round $r: echelon apply ${e}s (peak RSS $((rss / 1024)) MB), xargs -P $P ${x}s"
  best_e=$(python3 -c "print(min(float('$e'), float('${best_e:-inf}')))")
  best_x=$(python3 -c "print(min(float('$x'), float('${best_x:-inf}')))")
  peak=$(( rss > peak ? rss : peak ))
done
ratio=$(python3 -c "print(f'{$best_e / $best_x:.3f}')")
echo "command: N=$N P=$P ROUNDS=$ROUNDS bash scripts/bench-exec.sh"
echo "echelon apply: $N no-op operations at $P-way: best ${best_e}s"
echo "xargs -P $P:   $N runs of true:               best ${best_x}s"
echo "ratio echelon/xargs: $ratio (goal <= 1.15)"
echo "echelon peak RSS: $((peak / 1024)) MB (goal <= 150 MB)"
echo "journal records: $(wc -l < "$work"/state/runs/*/journal.jsonl), log files: $(ls "$work"/state/runs/*/logs | wc -l)"

[ "$CAPS" = 0 ] && exit 0
"$work/echelon" compile "$work/spec.hcl" --mode cap64 -o "$work/cap64.json" >/dev/null 2>&1
"$work/echelon" compile "$work/spec.hcl" --mode nocap -o "$work/nocap.json" >/dev/null 2>&1
best_c=""; best_n=""; peak_c=0; peak_n=0
for r in $(seq "$ROUNDS"); do
  rm -rf "$work/state"
  read -r c rss_c < <(measure "$work/echelon" apply "$work/cap64.json" --state "$work/state")
  rm -rf "$work/state"
  read -r n rss_n < <(measure "$work/echelon" apply "$work/nocap.json" --state "$work/state")
  echo "round $r: max_parallel = 64 ${c}s (peak RSS $((rss_c / 1024)) MB), no cap ${n}s (peak RSS $((rss_n / 1024)) MB)"
  best_c=$(python3 -c "print(min(float('$c'), float('${best_c:-inf}')))")
  best_n=$(python3 -c "print(min(float('$n'), float('${best_n:-inf}')))")
  peak_c=$(( rss_c > peak_c ? rss_c : peak_c ))
  peak_n=$(( rss_n > peak_n ? rss_n : peak_n ))
done
echo "echelon apply: $N no-op operations, max_parallel = 64: best ${best_c}s, peak RSS $((peak_c / 1024)) MB"
echo "echelon apply: $N no-op operations, no cap:           best ${best_n}s, peak RSS $((peak_n / 1024)) MB"
echo "ratio no cap/64-way: $(python3 -c "print(f'{$best_n / $best_c:.3f}')") (goal <= 1.3)"
