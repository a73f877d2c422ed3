#!/usr/bin/env bash
# make bench: rate limits on real traffic. Commands call the local
# token-bucket API (exec/internal/throttleapi: golang.org/x/time/rate
# buckets answering 429 with Retry-After) with the client the simulator
# models; each row lays simulate's predicted throttled requests beside the
# 429s the API itself counted (goal: within 20%), and the caps simulate
# recommends are run to check they stay at or under the tolerance it states.
# About 2 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
srv=""
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/echelon" ./cmd/echelon
go build -o "$work/throttleapi" ./exec/internal/throttleapi/cmd/throttleapi
E="$work/echelon"
rate=4 burst=4 calls=8 over=4 regions=12

spec() { # MAXPAR of the "recommended" mode
  {
    cat <<HCL
deployment "throttled" {
  default_mode = "wide"
}

variable "api_url" {
  type = string
}

variable "client" {
  type = string
}

phase "calls" {}

api "cloud" {
  rate  = $rate
  burst = $burst
  scope = "deployment"

  retry {
    max_attempts = 1000
    backoff      = "0.5s"
    max_backoff  = "4s"
  }
}

mode "wide" {
  max_parallel = 0
}

mode "steady" {
  max_parallel = 4
}

mode "recommended" {
  max_parallel = $1
}

component "provision" {
  phase    = "calls"
  driver   = "command"
  regions  = [$(for i in $(seq 1 $regions); do printf '"r%02d"' "$i"; [ "$i" -lt $regions ] && printf ', '; done)]
  duration = "${over}s"
  calls    = { cloud = $calls }

  command {
    argv = [var.client, "call", "--url", var.api_url, "--bucket", "cloud", "--n", "$calls", "--over", "${over}s", "--backoff", "500ms", "--max-backoff", "4s"]
  }
}
HCL
  } >"$work/spec.hcl"
}

sim() { # MODE FIELD
  "$E" simulate "$work/spec.hcl" --mode "$1" --var api_url=x --var client=x --trials 500 --json |
    python3 -c "import json,sys; print(json.load(sys.stdin)['modes'][0]['$2'])"
}

run() { # MODE: applies it against a fresh API, prints the API's 429 count and the wall-clock
  rm -f "$work/url"
  "$work/throttleapi" serve --rate $rate --burst $burst --url-file "$work/url" >"$work/stats.json" &
  srv=$!
  for _ in $(seq 50); do [ -s "$work/url" ] && break; sleep 0.1; done
  "$E" compile "$work/spec.hcl" --mode "$1" --var "api_url=$(cat "$work/url")" --var "client=$work/throttleapi" -o "$work/$1.plan" >/dev/null
  local d
  d=$("$E" apply "$work/$1.plan" --state "$work/st-$1" --json 2>/dev/null | tail -1 |
    python3 -c 'import json,sys; d=json.load(sys.stdin); assert not d["failed"], d["failed"]; print(round(d["duration"], 1))')
  kill "$srv"
  wait "$srv" || true
  srv=""
  echo "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["throttled"])' "$work/stats.json") $d"
}

spec 1
rec=$(sim wide recommended_max_parallel)
tol=$(sim wide recommended_throttle_tolerance)
spec "$rec"
echo "cores: $(nproc), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "api: rate $rate/s, burst $burst; $regions operations of $calls calls over ${over}s; recommended max_parallel $rec (tolerance $tol throttled a run)"
echo
echo "| mode | predicted throttled (mean) | API's 429s | error | predicted P50 (s) | actual (s) |"
echo "|---|---:|---:|---:|---:|---:|"
for m in wide steady recommended; do
  pt=$(sim "$m" throttled_mean)
  pp=$(sim "$m" wall_clock | python3 -c 'import ast,sys; print(ast.literal_eval(sys.stdin.read())["p50"])')
  read -r got d < <(run "$m")
  err=$(python3 -c "import sys; p, a = float(sys.argv[1]), float(sys.argv[2]); print(f'{(p - a) / a * 100:+.0f}%' if a else ('0%' if p < 0.5 else 'n/a'))" "$pt" "$got")
  echo "| $m | $pt | $got | $err | $pp | $d |"
done
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
