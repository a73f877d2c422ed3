#!/usr/bin/env bash
# make bench, real runs beside their predictions: specs/besu-local (real
# terraform and commands at 1/60 time scale) applied and destroyed from a
# relative plan path, each apply's summary printing its prediction next to
# what it took, total and per phase (BENCHMARKS.md, "Destroy durations").
# About 4 minutes; needs terraform on PATH or ECHELON_TERRAFORM.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/echelon" ./cmd/echelon
cp -r specs/besu-local "$work/"
cd "$work"
echo "cores: $(nproc), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for what in deploy destroy; do
  flag=""; [ "$what" = destroy ] && flag="--destroy"
  ./echelon compile besu-local $flag -o "$what.plan" >/dev/null
  echo "+ echelon apply $what.plan"
  ./echelon apply "$what.plan" | grep -E 'operations succeeded|^predicted|^  phase'
done
