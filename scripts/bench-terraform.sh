#!/usr/bin/env bash
# Terraform runs against the plain loop a user would otherwise write
# (issue 10): REGIONS regions (default 24) x 4 unit types (net, db, app,
# edge), one Terraform directory per unit type and a workspace per region,
# each unit a terraform_data whose local-exec sleeps SLEEP seconds (default
# 0.5) when created and when destroyed; db/R depends on net/R, app/R on
# db/R, edge/R on app/R.
#
#   echelon: `echelon apply` of the plan (max_parallel = P), then of its
#            destroy plan.
#   loop:    per unit type in dependency order (reversed to destroy),
#            `xargs -P P` over the regions of
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
# ECHELON=path runs that echelon binary instead of one built from this
# tree (before/after comparisons); KEEP=1 keeps the work directory.
set -euo pipefail
cd "$(dirname "$0")/.."
REGIONS=${REGIONS:-24}
SLEEP=${SLEEP:-0.5}
WIDTHS=${WIDTHS:-8 24}
TERRAFORM=${ECHELON_TERRAFORM:-$(command -v terraform || true)}
if [ -z "$TERRAFORM" ]; then
  echo "bench-terraform: no terraform (scripts/tools.sh builds one)" >&2
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
units=(net db app edge)

# The workload: one directory per unit type.
mkdir -p "$work/src"
for u in "${units[@]}"; do
  mkdir -p "$work/src/$u"
  cat > "$work/src/$u/main.tf" <<HCL
variable "region" {
  type = string
}

resource "terraform_data" "$u" {
  input = "\${var.region}/\${terraform.workspace}"

  provisioner "local-exec" {
    command = "sleep $SLEEP"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "sleep $SLEEP"
  }
}
HCL
done
regions=$(seq -f 'r%02g' 1 "$REGIONS" | tr '\n' ' ')
hcl_regions=$(printf '"%s", ' $regions)
{
  echo 'deployment "tf-bench" {}'
  echo 'phase "main" {}'
  for p in $WIDTHS; do echo "mode \"p$p\" { max_parallel = $p }"; done
  prev=""
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
    vars      = { region = each.region }
  }
}
HCL
    prev=$u
  done
} > "$work/src/spec.hcl"

# The PATH wrapper: logs each terraform subcommand, then runs terraform.
mkdir -p "$work/bin"
cat > "$work/bin/terraform" <<SH
#!/bin/sh
echo "\$1" >> "\$TF_BENCH_CALLS"
exec '$TERRAFORM' "\$@"
SH
chmod +x "$work/bin/terraform"

# The plain loop: LOOP DIR ACTION P.
cat > "$work/loop.sh" <<'SH'
#!/usr/bin/env bash
set -euo pipefail
dir=$1 action=$2 p=$3; shift 3
units=(net db app edge)
if [ "$action" = destroy ]; then units=(edge app db net); fi
for u in "${units[@]}"; do
  printf '%s\n' "$@" | xargs -P "$p" -I{} sh -c '
    cd "$0" && export TF_WORKSPACE={} TF_DATA_DIR=.terraform-{} &&
    terraform init -input=false >/dev/null &&
    terraform "$1" -auto-approve -input=false -var region={} >/dev/null' "$dir/$u" "$action"
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

echo "command: REGIONS=$REGIONS SLEEP=$SLEEP WIDTHS='$WIDTHS' bash scripts/bench-terraform.sh"
echo "terraform: $("$TERRAFORM" version | head -1); $REGIONS regions x ${#units[@]} unit types = $((REGIONS * ${#units[@]})) states"
echo "load: $(uptime)"
status=0
for p in $WIDTHS; do
  rm -rf "$work/e" "$work/l"
  cp -r "$work/src" "$work/e"
  cp -r "$work/src" "$work/l"
  "$work/echelon" compile "$work/e/spec.hcl" --mode "p$p" -o "$work/e/apply.plan" >/dev/null 2>&1
  "$work/echelon" compile "$work/e/spec.hcl" --mode "p$p" --destroy -o "$work/e/destroy.plan" >/dev/null 2>&1
  for action in apply destroy; do
    read -r lw lc < <(PATH="$work/bin:$PATH" measure "$work/l.calls" bash "$work/loop.sh" "$work/l" "$action" "$p" $regions)
    read -r ew ec < <(ECHELON_TERRAFORM="$work/bin/terraform" measure "$work/e.calls" \
      "$work/echelon" apply "$work/e/$action.plan" --state "$work/e/.echelon")
    wr=$(ratio "$ew" "$lw"); cr=$(ratio "$ec" "$lc")
    echo "$action at $p in flight:"
    echo "  echelon: ${ew}s wall, ${ec}s CPU, terraform processes $(calls "$work/e.calls")"
    echo "  loop:    ${lw}s wall, ${lc}s CPU, terraform processes $(calls "$work/l.calls")"
    echo "  echelon/loop: wall ${wr}, CPU ${cr} (goal <= 0.85 each)"
    inits=$(grep -cx init "$work/e.calls" || true)
    runs=$(grep -cx "$action" "$work/e.calls" || true)
    if [ "$inits" -gt "${#units[@]}" ] || [ "$runs" -gt $((REGIONS * ${#units[@]})) ]; then
      echo "  goal missed: $inits inits for ${#units[@]} directories, $runs ${action}s for $((REGIONS * ${#units[@]})) states"
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
