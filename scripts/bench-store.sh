#!/usr/bin/env bash
# The shared store on PostgreSQL (docs/store.md), against a throwaway
# server (scripts/postgres.sh, fsync on):
#  1. lock set acquire + release per second (one EXCLUSIVE, one SHARED
#     name; goal >= 1,000/s): BenchmarkPostgresLockCycle, 2,000 cycles,
#     from one client and from 8 at once; and a step's two commits as
#     apply makes them (BenchmarkPostgresStepCycle).
#  2. store overhead per operation: N (default 10,000) no-op operations
#     (argv ["true"]) at 24-way applied with the state directory and with
#     --store postgres://, best of ROUNDS (default 2) each, interleaved;
#     (PG - dir) / N (goal <= 2 ms/op).
#  3. the same N operations run by workers (apply --workers, echelon
#     worker): 1 worker with 24 slots, and 4 workers with 6 slots each,
#     best of ROUNDS each, against the state directory's time.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
ROUNDS=${ROUNDS:-2}
work=$(mktemp -d /tmp/echelon-bench-store-XXXXXX)
pg=$(mktemp -d /tmp/echelon-pg-XXXXXX) # its own: the server user must reach it
wpids=()
stop_workers() {
  for p in "${wpids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${wpids[@]}"; do wait "$p" 2>/dev/null || true; done
  wpids=()
}
trap 'stop_workers; bash scripts/postgres.sh stop "$pg" >/dev/null 2>&1; rm -rf "$work"' EXIT
url=$(bash scripts/postgres.sh start "$pg")
echo "uptime: $(uptime)"

out=$(ECHELON_STORE_TEST_URL=$url go test ./store -run '^$' -bench 'Postgres(LockCycle|StepCycle)' -benchtime 2000x -count 1)
echo "command: ECHELON_STORE_TEST_URL=... go test ./store -run '^\$' -bench 'Postgres(LockCycle|StepCycle)' -benchtime 2000x"
per() { # benchmark name, what
  ns=$(echo "$out" | awk -v b="^Benchmark$1-" '$1 ~ b {print $3}')
  echo "$2: $(python3 -c "print(f'{$ns/1e6:.3f}')") ms per cycle, $(python3 -c "print(f'{1e9/$ns:.0f}')") cycles/s"
}
per PostgresLockCycle "lock acquire+release, one client (goal >= 1000/s)"
per PostgresLockCycleParallel "lock acquire+release, 8 clients at once"
per PostgresStepCycle "a step's two commits (locks + op_start, op_end + release), one client"

go build -o "$work/echelon" ./cmd/echelon
regions=$(( N / 10 ))
cat > "$work/spec.hcl" <<HCL
deployment "bench" {}

phase "main" {}

mode "m24" {
  max_parallel = 24
}

component "noop" {
  phase    = phase.main
  driver   = "command"
  regions  = [for i in range($regions) : format("r%05d", i)]
  replicas = 10
  duration = "1s"
  command {
    argv = ["true"]
  }
}
HCL
"$work/echelon" compile "$work/spec.hcl" -o "$work/plan.json" >/dev/null
wall() {
  python3 - "$@" <<'PY'
import subprocess, sys, time
t = time.monotonic()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(f"{time.monotonic() - t:.3f}")
PY
}
best_d=""; best_p=""
for r in $(seq "$ROUNDS"); do
  rm -rf "$work/state"
  d=$(wall "$work/echelon" apply "$work/plan.json" --state "$work/state")
  rm -rf "$work/state"
  p=$(ECHELON_STORE=$url wall "$work/echelon" apply "$work/plan.json" --state "$work/state")
  echo "round $r: state directory ${d}s, postgres ${p}s"
  best_d=$(python3 -c "print(min(float('$d'), float('${best_d:-inf}')))")
  best_p=$(python3 -c "print(min(float('$p'), float('${best_p:-inf}')))")
done
best_w1=""; best_w4=""
for r in $(seq "$ROUNDS"); do
  for nw in 1 4; do
    slots=$(( 24 / nw ))
    for i in $(seq "$nw"); do
      (cd "$work" && exec "$work/echelon" worker --store "$url" --slots "$slots" --state "$work/w$i" >"$work/w$i.log" 2>&1) &
      wpids+=($!)
    done
    rm -rf "$work/state"
    w=$(wall "$work/echelon" apply "$work/plan.json" --store "$url" --workers --state "$work/state")
    stop_workers
    echo "round $r: $nw worker(s) x $slots slots ${w}s"
    if [ "$nw" = 1 ]; then best_w1=$(python3 -c "print(min(float('$w'), float('${best_w1:-inf}')))"); else best_w4=$(python3 -c "print(min(float('$w'), float('${best_w4:-inf}')))"); fi
  done
done
echo "command: N=$N ROUNDS=$ROUNDS bash scripts/bench-store.sh"
echo "apply --workers of $N no-op operations at 24-way: 1 worker best ${best_w1}s, 4 workers best ${best_w4}s"
echo "per operation over the state directory: 1 worker $(python3 -c "print(f'{($best_w1 - $best_d) / $N * 1000:.3f}')") ms, 4 workers $(python3 -c "print(f'{($best_w4 - $best_d) / $N * 1000:.3f}')") ms"
echo "apply of $N no-op operations at 24-way: state directory best ${best_d}s, postgres best ${best_p}s"
echo "store overhead per operation (postgres - state directory): $(python3 -c "print(f'{($best_p - $best_d) / $N * 1000:.3f}')") ms (goal <= 2 ms)"
echo "uptime: $(uptime)"
