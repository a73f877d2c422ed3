#!/usr/bin/env bash
# Terraform runs against the plain loop a user would otherwise write
# (issue 10), on one of two layouts (LAYOUT):
#
#   plain (default): REGIONS regions (default 24) x 4 unit types (net, db,
#            app, edge), one Terraform directory per unit type and a
#            workspace per region, each unit a terraform_data whose
#            local-exec sleeps SLEEP seconds (default 0.5) when created and
#            when destroyed; db/R depends on net/R, app/R on db/R, edge/R
#            on app/R.
#   tg:      scripts/workload-tg.sh's Terragrunt-style layout, REGIONS
#            regions (default 24) x 4 unit types (network; database and
#            cluster after it; app after both) and one global unit after
#            app, 97 units in 5 directories, its sleeps x SCALE (default
#            0.5); it sleeps on create only.
#
#   echelon: `echelon apply` of the plan (max_parallel = P), then of its
#            destroy plan.
#   loop:    per unit type in dependency order (reversed to destroy; tg:
#            per dependency level, its unit types together), `xargs -P P`
#            over the units of
#            `terraform init && terraform apply -auto-approve -var region=R`
#            (`destroy` to destroy), each unit with TF_WORKSPACE=R and a
#            TF_DATA_DIR of its own (units of one directory run at once).
#
# At P = 8 and 24 (WIDTHS), in one run, each on a fresh copy of the
# directories. Prints per action and width the wall-clock, the CPU seconds
# (user+sys of the whole process tree: getrusage of the children) and the
# terraform processes each started (a PATH wrapper logs each subcommand),
# and the echelon/loop ratios. Goals: at most one init per directory and
# one apply per state; wall-clock and CPU at most 0.85x the loop's.
# TOOL=tofu runs OpenTofu instead (ECHELON_TOFU, else tofu on PATH; the
# spec's terraform blocks get binary = "tofu"), both sides.
# ECHELON=path runs that echelon binary instead of one built from this
# tree (before/after comparisons); KEEP=1 keeps the work directory.
set -euo pipefail
cd "$(dirname "$0")/.."
REGIONS=${REGIONS:-24}
SLEEP=${SLEEP:-0.5}
SCALE=${SCALE:-0.5}
WIDTHS=${WIDTHS:-8 24}
LAYOUT=${LAYOUT:-plain}
TOOL=${TOOL:-terraform}
case "$TOOL" in
  terraform) TERRAFORM=${ECHELON_TERRAFORM:-$(command -v terraform || true)} ;;
  tofu) TERRAFORM=${ECHELON_TOFU:-$(command -v tofu || true)} ;;
  *) echo "bench-terraform: TOOL is terraform or tofu, not $TOOL" >&2; exit 2 ;;
esac
case "$LAYOUT" in plain | tg) ;; *) echo "bench-terraform: LAYOUT is plain or tg, not $LAYOUT" >&2; exit 2 ;; esac
if [ -z "$TERRAFORM" ]; then
  echo "bench-terraform: no $TOOL (scripts/tools.sh builds one)" >&2
  exit 1
fi
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
export CHECKPOINT_DISABLE=1
unset TF_CLI_CONFIG_FILE TF_PLUGIN_CACHE_DIR TF_DATA_DIR TF_WORKSPACE

if [ -n "${ECHELON:-}" ]; then
  cp "$ECHELON" "$work/echelon" # another build, to compare
else
  go build -o "$work/echelon" ./cmd/echelon
fi
# The workload, and $work/units.txt for the loop: a line per unit,
# DIR WORKSPACE REGION SLEEP LEVEL (LEVEL: its place in the dependency
# order, 0 first); the loop runs level after level.
write_plain() {
  local units=(net db app edge) u i r prev=""
  mkdir -p "$work/src"
  : > "$work/src/units.txt"
  for i in "${!units[@]}"; do
    u=${units[$i]}
    mkdir -p "$work/src/$u"
    cat > "$work/src/$u/main.tf" <<HCL
variable "region" {
  type = string
}

variable "sleep_seconds" {
  type = number
}

resource "terraform_data" "$u" {
  input = "\${var.region}/\${terraform.workspace}"

  provisioner "local-exec" {
    command = "sleep \${var.sleep_seconds}"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "sleep $SLEEP"
  }
}
HCL
    for r in $(seq -f 'r%02g' 1 "$REGIONS"); do echo "$u $r $r $SLEEP $i" >> "$work/src/units.txt"; done
  done
  local regions hcl_regions
  regions=$(seq -f 'r%02g' 1 "$REGIONS" | tr '\n' ' ')
  hcl_regions=$(printf '"%s", ' $regions)
  {
    echo 'deployment "tf-bench" {}'
    echo 'phase "main" {}'
    for u in "${units[@]}"; do
      cat <<HCL
component "$u" {
  phase   = phase.main
  driver  = "terraform"
  regions = [${hcl_regions%, }]
  ${prev:+depends_on = [component.$prev]}
  terraform {
    dir       = "$u"
    workspace = each.region
    vars      = { region = each.region, sleep_seconds = $SLEEP }
  }
}
HCL
      prev=$u
    done
  } > "$work/src/spec.hcl"
}
if [ "$LAYOUT" = tg ]; then
  bash scripts/workload-tg.sh "$work/src" --regions "$REGIONS" --scale "$SCALE" >/dev/null
else
  write_plain
fi
for p in $WIDTHS; do echo "mode \"p$p\" { max_parallel = $p }" >> "$work/src/spec.hcl"; done
if [ "$TOOL" = tofu ]; then
  # Every terraform block runs tofu: a line after its dir.
  sed -i 's/^\( *\)dir\( *\)= \(".*"\)$/&\n\1binary = "tofu"/' "$work/src/spec.hcl"
fi
ndirs=$(awk '{ print $1 }' "$work/src/units.txt" | sort -u | wc -l)
nstates=$(awk '{ print $1, $2 }' "$work/src/units.txt" | sort -u | wc -l)

# The PATH wrapper: logs each terraform subcommand, then runs terraform
# (or tofu, under its own name).
mkdir -p "$work/bin"
cat > "$work/bin/$TOOL" <<SH
#!/bin/sh
echo "\$1" >> "\$TF_BENCH_CALLS"
exec '$TERRAFORM' "\$@"
SH
chmod +x "$work/bin/$TOOL"

# The plain loop: LOOP DIR ACTION P TOOL, over DIR/units.txt.
cat > "$work/loop.sh" <<'SH'
#!/usr/bin/env bash
set -euo pipefail
dir=$1 action=$2 p=$3 tool=$4
levels=$(awk '{ print $5 }' "$dir/units.txt" | sort -un)
if [ "$action" = destroy ]; then levels=$(echo "$levels" | sort -rn); fi
for l in $levels; do
  awk -v l="$l" '$5 == l { print $1, $2, $3, $4 }' "$dir/units.txt" |
    xargs -P "$p" -L1 sh -c '
    cd "$0/$3" && export TF_WORKSPACE="$4" TF_DATA_DIR=".terraform-$4" &&
    "$2" init -input=false >/dev/null &&
    "$2" "$1" -auto-approve -input=false -var region="$5" -var sleep_seconds="$6" >/dev/null' "$dir" "$action" "$tool"
done
SH

# measure CALLS CMD...: runs CMD; prints wall seconds, CPU seconds of the
# process tree (user+sys of the waited-for children) and terraform calls.
measure() {
  local calls=$1; shift
  : > "$calls"
  TF_BENCH_CALLS=$calls python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
wall = time.monotonic() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{wall:.2f} {ru.ru_utime + ru.ru_stime:.2f}")
PY
}

# calls FILE: "N (init a, apply b, ...)" from a calls log.
calls() {
  sort "$1" | uniq -c | awk '{ n += $1; s = s (s ? ", " : "") $2 " " $1 } END { printf "%d (%s)", n, s }'
}

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

echo "command: LAYOUT=$LAYOUT TOOL=$TOOL REGIONS=$REGIONS SLEEP=$SLEEP SCALE=$SCALE WIDTHS='$WIDTHS' bash scripts/bench-terraform.sh"
echo "$TOOL: $("$TERRAFORM" version | head -1); layout $LAYOUT: $nstates states in $ndirs directories"
echo "load: $(uptime)"
status=0
for p in $WIDTHS; do
  rm -rf "$work/e" "$work/l"
  cp -r "$work/src" "$work/e"
  cp -r "$work/src" "$work/l"
  "$work/echelon" compile "$work/e/spec.hcl" --mode "p$p" -o "$work/e/apply.plan" >/dev/null 2>&1
  "$work/echelon" compile "$work/e/spec.hcl" --mode "p$p" --destroy -o "$work/e/destroy.plan" >/dev/null 2>&1
  for action in apply destroy; do
    read -r lw lc < <(PATH="$work/bin:$PATH" measure "$work/l.calls" bash "$work/loop.sh" "$work/l" "$action" "$p" "$TOOL")
    read -r ew ec < <(ECHELON_TERRAFORM="$work/bin/$TOOL" ECHELON_TOFU="$work/bin/$TOOL" measure "$work/e.calls" \
      "$work/echelon" apply "$work/e/$action.plan" --state "$work/e/.echelon")
    wr=$(ratio "$ew" "$lw"); cr=$(ratio "$ec" "$lc")
    echo "$action at $p in flight:"
    echo "  echelon: ${ew}s wall, ${ec}s CPU, $TOOL processes $(calls "$work/e.calls")"
    echo "  loop:    ${lw}s wall, ${lc}s CPU, $TOOL processes $(calls "$work/l.calls")"
    echo "  echelon/loop: wall ${wr}, CPU ${cr} (goal <= 0.85 each)"
    inits=$(grep -cx init "$work/e.calls" || true)
    runs=$(grep -cx "$action" "$work/e.calls" || true)
    if [ "$inits" -gt "$ndirs" ] || [ "$runs" -gt "$nstates" ]; then
      echo "  goal missed: $inits inits for $ndirs directories, $runs ${action}s for $nstates states"
      status=1
    fi
    if python3 -c "import sys; sys.exit(0 if $wr <= 0.85 and $cr <= 0.85 else 1)"; then :; else
      echo "  goal missed: ratio above 0.85"
      status=1
    fi
  done
done
echo "load after: $(uptime)"
exit $status
