#!/usr/bin/env bash
# make bench: predicted against actual on work we did not shape for the
# simulator. Two differently laid out specs, each in two modes, deploy and
# destroy, run for real (terraform and commands):
#   - specs/besu-local: one root module with a module per region, commands;
#   - a Terragrunt-style layout (scripts/workload-tg.sh): a directory per
#     unit type, a workspace per region, 97 small units.
# Each row: the wall-clock apply took, simulate's P50 without a calibration,
# and its P50 after `echelon calibrate` from the run of the *other* mode.
# Goals (issue 9): within 10% uncalibrated, 5% calibrated.
# About 12 minutes; needs terraform on PATH or ECHELON_TERRAFORM.
# FIDELITY_SPECS="tg-style" limits the specs run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/echelon" ./cmd/echelon
E="$work/echelon"
cores=$(nproc)
cp -r specs/besu-local "$work/besu-local"
bash scripts/workload-tg.sh "$work/tg-style" >/dev/null
specs=${FIDELITY_SPECS:-"besu-local tg-style"}
modes() { case $1 in besu-local) echo "standard ultra" ;; tg-style) echo "steady wide" ;; esac; }
has_calibrate=0
"$E" calibrate --help >/dev/null 2>&1 && has_calibrate=1
nocal=""
[ $has_calibrate = 1 ] && nocal="--no-calibration"

p50() { # PLAN [simulate flags...]: simulate's P50, seconds
  local plan=$1
  shift
  "$E" simulate "$plan" --trials 200 --cores "$cores" --json "$@" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["modes"][0]["wall_clock"]["p50"])'
}

actual() { # SPEC MODE ACTION STATE: runs the plan, prints its wall-clock
  local spec=$1 mode=$2 action=$3 state=$4 flag=""
  [ "$action" = destroy ] && flag="--destroy"
  "$E" compile "$spec" --mode "$mode" $flag -o "$state.$action.plan" >/dev/null
  "$E" apply "$state.$action.plan" --state "$state" --json 2>"$state.$action.err" | tail -1 |
    python3 -c 'import json,sys; d=json.load(sys.stdin); assert not d["failed"], d["failed"]; print(round(d["duration"], 3))'
}

declare -A act
echo "cores: $cores, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for s in $specs; do
  for m in $(modes "$s"); do
    for a in deploy destroy; do
      act[$s/$m/$a]=$(actual "$work/$s" "$m" "$a" "$work/st-$s-$m")
      echo "  ran $s $m $a: ${act[$s/$m/$a]} s (load $(cut -d' ' -f1 /proc/loadavg))"
    done
  done
done

pct() { python3 -c "import sys; p, a = float(sys.argv[1]), float(sys.argv[2]); print(f'{(p - a) / a * 100:+.1f}%')" "$1" "$2"; }
echo
echo "| spec | action | mode | actual (s) | predicted P50 (s) | error | calibrated from | calibrated P50 (s) | error |"
echo "|---|---|---|---:|---:|---:|---|---:|---:|"
for s in $specs; do
  set -- $(modes "$s")
  for m in "$@"; do
    other=$1
    [ "$m" = "$1" ] && other=$2
    for a in deploy destroy; do
      x=${act[$s/$m/$a]}
      plan="$work/st-$s-$m.$a.plan"
      u=$(p50 "$plan" $nocal)
      cal="-" c="-" ce="-"
      if [ $has_calibrate = 1 ]; then
        "$E" calibrate "$work/$s" --state "$work/st-$s-$other" -o "$work/$s/echelon.calibration.json" >/dev/null
        cal="$other run"
        c=$(p50 "$plan")
        ce=$(pct "$c" "$x")
        rm -f "$work/$s/echelon.calibration.json"
      fi
      echo "| $s | $a | $m | $x | $u | $(pct "$u" "$x") | $cal | $c | $ce |"
    done
  done
done
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
