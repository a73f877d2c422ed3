#!/usr/bin/env bash
# Measures each driver's overhead per process, the figures of
# sim.DefaultOverhead (docs/simulator.md, "Tool overhead"), on this machine:
#   - command, kubectl, helm: go test ./exec -bench Overhead (a step run by
#     the driver, kubectl and helm against a real kube-apiserver and etcd);
#   - terraform: echelon apply of serial plans of terraform_data resources
#     with no sleep, in one directory with a workspace per step, and in a
#     directory per step: the slopes give the process, per-resource and
#     per-directory costs.
# Run it on an idle machine; it prints the load it ran under.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/tools.sh --env)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/echelon" ./cmd/echelon
E="$work/echelon"
echo "cores: $(nproc), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
go test ./exec -run '^$' -bench Overhead -benchtime 20x | grep -E 's/step' |
  awk '{ printf "%-28s %8.3f s a step\n", $1, $5 }'

tfspec() { # DIR STEPS RESOURCES LAYOUT(workspaces|dirs)
  local d=$1 n=$2 r=$3 layout=$4
  mkdir -p "$d"
  for i in $(seq 1 "$n"); do
    local u="$d/units/u"
    [ "$layout" = dirs ] && u="$d/units/u$i"
    mkdir -p "$u"
    printf 'resource "terraform_data" "r" {\n  count = %d\n}\n' "$r" >"$u/main.tf"
  done
  {
    echo "deployment \"oh\" {"
    echo "  default_mode = \"serial\""
    echo "}"
    echo "phase \"p\" {}"
    echo "mode \"serial\" {"
    echo "  max_parallel = 1"
    echo "}"
    for i in $(seq 1 "$n"); do
      local dir=units/u ws="w$i"
      [ "$layout" = dirs ] && dir=units/u$i ws=default
      echo "component \"c$i\" {"
      echo "  phase     = \"p\""
      echo "  driver    = \"terraform\""
      echo "  resources = $r"
      [ "$i" -gt 1 ] && echo "  depends_on = [component.c$((i - 1))]"
      echo "  terraform {"
      echo "    dir       = \"$dir\""
      echo "    workspace = \"$ws\""
      echo "  }"
      echo "}"
    done
  } >"$d/spec.hcl"
}

tfrun() { # STEPS RESOURCES LAYOUT: wall-clock seconds of the run
  local d="$work/tf-$1-$2-$3"
  tfspec "$d" "$1" "$2" "$3"
  "$E" compile "$d/spec.hcl" -o "$d/p.plan" >/dev/null
  "$E" apply "$d/p.plan" --state "$d/st" --json | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["duration"])'
}

one=$(tfrun 1 1 workspaces)
ws=$(tfrun 11 1 workspaces)
res=$(tfrun 11 21 workspaces)
dirs=$(tfrun 11 1 dirs)
python3 - "$one" "$ws" "$res" "$dirs" <<'PY'
import sys
one, ws, res, dirs = map(float, sys.argv[1:])
step = (ws - one) / 10            # a later step: process + 1 resource
per_res = (res - ws) / (11 * 20)  # 20 more resources in each of the 11 steps
per_dir = (dirs - ws) / 10        # a new directory per step instead of a workspace
print(f"terraform step (1 resource)   {step:8.3f} s")
print(f"terraform per resource        {per_res:8.4f} s")
print(f"terraform per directory       {per_dir:8.3f} s (init)")
print(f"terraform first step          {one:8.3f} s (version check, init, process)")
PY
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
