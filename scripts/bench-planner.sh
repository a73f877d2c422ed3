#!/usr/bin/env bash
# Planner scale benchmark (make bench calls this): generated specs of about
# 1k, 10k and 100k operations (24 regions, 5 phases, up to 3 dependencies
# per component, see planner/internal/specgen), compiled end to end by the
# real binary (`echelon compile SPEC -o PLAN`: lang.Load + planner.Compile +
# Marshal + write) under /usr/bin/time, then the Go benchmarks of Compile
# and Marshal alone. Prints wall and CPU seconds and peak RSS per size.
# SIZES="1000 10000" overrides the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${SIZES:-"1000 10000 100000"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/echelon" ./cmd/echelon
go build -o "$tmp/specgen" ./planner/internal/specgen/cmd/specgen
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo
echo "end to end: echelon compile SPEC -o PLAN"
printf '%-8s %-12s %-9s %-9s %-9s %-10s %-10s %s\n' size operations wall_s user_s sys_s peak_MiB plan_MiB spec_lines
for n in $sizes; do
  dir="$tmp/spec-$n"
  "$tmp/specgen" -ops "$n" -dir "$dir" >/dev/null
  # Best of 3 wall times, as the machine is shared.
  best=""
  for _ in 1 2 3; do
    /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" "$tmp/echelon" compile "$dir" -o "$tmp/plan-$n.json" >"$tmp/out"
    read -r wall user sys rss <"$tmp/time"
    if [ -z "$best" ] || awk "BEGIN{exit !($wall < ${best%% *})}"; then best="$wall $user $sys $rss"; fi
  done
  read -r wall user sys rss <<<"$best"
  ops=$(sed -E 's/.*, ([0-9]+) operations.*/\1/' "$tmp/out")
  printf '%-8s %-12s %-9s %-9s %-9s %-10s %-10s %s\n' "$n" "$ops" "$wall" "$user" "$sys" \
    "$((rss / 1024))" "$(( $(stat -c %s "$tmp/plan-$n.json") / 1048576 ))" "$(wc -l <"$dir/spec.hcl")"
done
echo
echo "planner alone (go test -bench, in-memory specs): Compile, then Marshal"
go test ./planner -run '^$' -bench '^Benchmark(Compile|Marshal)$' -benchtime 3x -benchmem 2>&1 | grep -E '^Benchmark' || true
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at end"

# Peer comparison: the same flat graph (components / terraform_data
# resources with up to 3 depends_on each) through `echelon compile` and
# `terraform graph`. BENCH_TERRAFORM=0 skips it; TF_SIZES overrides sizes.
if [ "${BENCH_TERRAFORM:-1}" != 0 ] && command -v terraform >/dev/null; then
  echo
  echo "peer: the same flat graph, echelon compile vs terraform graph ($(terraform version 2>/dev/null | head -1))"
  printf '%-8s %-22s %-9s %-9s %s\n' items tool wall_s cpu_s peak_MiB
  for n in ${TF_SIZES:-1000 2000}; do
    dir="$tmp/flat-$n"
    "$tmp/specgen" -flat -ops "$n" -dir "$dir" >/dev/null
    /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" "$tmp/echelon" compile "$dir" -o "$tmp/flat-$n.json" >/dev/null
    read -r wall user sys rss <"$tmp/time"
    printf '%-8s %-22s %-9s %-9s %s\n' "$n" "echelon compile" "$wall" "$(awk "BEGIN{print $user+$sys}")" "$((rss / 1024))"
    (cd "$dir/tf" && TF_CLI_CONFIG_FILE=/dev/null terraform init -input=false >/dev/null 2>&1)
    /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" sh -c "cd '$dir/tf' && TF_CLI_CONFIG_FILE=/dev/null terraform graph >/dev/null 2>&1"
    read -r wall user sys rss <"$tmp/time"
    printf '%-8s %-22s %-9s %-9s %s\n' "$n" "terraform graph" "$wall" "$(awk "BEGIN{print $user+$sys}")" "$((rss / 1024))"
  done
fi
