#!/usr/bin/env bash
# Shared api buckets (docs/store.md, "Shared api buckets"): two applies of
# two plans calling one api, at once, against the local token-bucket API
# (exec/internal/throttleapi: golang.org/x/time/rate buckets answering 429
# with Retry-After). Once with a PostgreSQL store (their steps reserve from
# one shared bucket and wait their turn), once without (each learns the
# limit alone from 429s). Prints the API's 429 count, the seconds the steps
# waited for tokens and the wall-clock of each. About a minute; SMOKE=1
# runs a smaller load in about 20 s.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
srv="" pg=""
cleanup() {
  [ -n "$srv" ] && kill "$srv" 2>/dev/null
  [ -n "$pg" ] && bash scripts/postgres.sh stop "$pg" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/echelon" ./cmd/echelon
go build -o "$work/throttleapi" ./exec/internal/throttleapi/cmd/throttleapi
E="$work/echelon"
rate=4 burst=4 calls=4 over=2 ops=8
if [ "${SMOKE:-}" = 1 ]; then ops=4; fi

url=${ECHELON_STORE:-}
if [ -z "$url" ]; then
  pg=$(mktemp -d)
  url=$(PGFSYNC=off bash scripts/postgres.sh start "$pg")
fi

spec() { # NAME: a deployment of $ops operations at once, $calls calls of api cloud each
  cat >"$work/$1.hcl" <<HCL
deployment "$1" {}

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

  retry {
    max_attempts = 1000
    backoff      = "0.5s"
    max_backoff  = "4s"
  }
}

mode "wide" {
  max_parallel = 0
}

component "provision" {
  phase    = "calls"
  driver   = "command"
  replicas = $ops
  duration = "${over}s"
  calls    = { cloud = $calls }

  command {
    argv = [var.client, "call", "--url", var.api_url, "--bucket", "cloud", "--n", "$calls", "--over", "${over}s", "--backoff", "500ms", "--max-backoff", "4s"]
  }
}
HCL
}

summary() { # FILE: "duration paced" of apply --json's summary line
  tail -1 "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert not d["failed"], d["failed"]; print(round(d["duration"], 1), round(d.get("paced", 0), 1))'
}

run() { # LABEL STORE: both applies at once against a fresh API (STORE "": none)
  local label=$1 store=$2
  rm -f "$work/url"
  "$work/throttleapi" serve --rate $rate --burst $burst --url-file "$work/url" >"$work/stats.json" &
  srv=$!
  for _ in $(seq 50); do [ -s "$work/url" ] && break; sleep 0.1; done
  local pids=()
  for d in alpha beta; do
    "$E" compile "$work/$d.hcl" --var "api_url=$(cat "$work/url")" --var "client=$work/throttleapi" -o "$work/$d.plan" >/dev/null
    ECHELON_STORE=$store "$E" apply "$work/$d.plan" --state "$work/st-$d" --json >"$work/$d.json" 2>"$work/$d.err" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || { cat "$work"/*.err >&2; exit 1; }; done
  kill "$srv"
  wait "$srv" || true
  srv=""
  read -r da pa < <(summary "$work/alpha.json")
  read -r db pb < <(summary "$work/beta.json")
  local throttled
  throttled=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["throttled"])' "$work/stats.json")
  echo "| $label | $throttled | $pa + $pb | $da / $db |"
}

spec alpha
spec beta
echo "cores: $(nproc), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "api cloud: rate $rate/s, burst $burst; two plans at once, each $ops operations of $calls calls over ${over}s"
echo
echo "| store | API's 429s | waited for tokens (s) | wall-clock alpha / beta (s) |"
echo "|---|---:|---:|---:|"
run "none (state directories)" ""
run "shared (PostgreSQL)" "$url"
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
