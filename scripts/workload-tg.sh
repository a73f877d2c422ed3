#!/usr/bin/env bash
# workload-tg.sh OUT [--regions N] [--scale F]: writes a benchmark workload
# laid out the way Terragrunt users lay theirs out, not the way echelon's own
# specs are: one Terraform root module per unit type (OUT/units/TYPE), a
# workspace per region, many small units. 4 regional unit types x N regions
# (default 24) and one global unit: 97 units. Each unit's terraform_data
# resources sleep in a local-exec provisioner (seconds x F, default 1), so a
# run needs terraform and nothing else.
#
# The spec (OUT/spec.hcl) states each unit's resources and resource_duration
# as a user would: the sleep, nothing for Terraform's own time. Modes:
# steady (max_parallel 8) and wide (max_parallel 24). OUT/units.txt lists
# the units for a plain loop (scripts/bench-terraform.sh LAYOUT=tg), a line
# each: DIR WORKSPACE REGION SLEEP LEVEL, LEVEL the unit type's depth in the
# dependency order (0 first).
set -euo pipefail
out=${1:?usage: workload-tg.sh OUT [--regions N] [--scale F]}
shift
regions=24 scale=1
while [ $# -gt 0 ]; do
  case $1 in
    --regions) regions=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    *) echo "workload-tg.sh: unknown flag $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out/units"
: >"$out/units.txt"

# name resources sleep depends_on (components) level
units="network 3 1.0 - 0
database 2 1.5 network 1
cluster 4 1.2 network 1
app 3 0.8 database,cluster 2"

sec() { awk -v s="$1" -v f="$scale" 'BEGIN { printf "%g", s * f }'; }

module() { # DIR RESOURCES
  mkdir -p "$1"
  cat >"$1/main.tf" <<TF
# One unit type; a workspace per region. Written by scripts/workload-tg.sh.
variable "region" {
  type = string
}

variable "sleep_seconds" {
  type = number
}

resource "terraform_data" "unit" {
  count = $2
  input = "\${var.region}-\${count.index}"

  provisioner "local-exec" {
    command = "sleep \${var.sleep_seconds}"
  }
}

output "id" {
  value = terraform_data.unit[*].id
}
TF
}

{
  echo '# A Terragrunt-style workload: written by scripts/workload-tg.sh.'
  echo 'deployment "tg-style" {'
  echo '  default_mode = "steady"'
  echo '}'
  echo
  echo 'variable "regions" {'
  echo '  type    = list(string)'
  printf '  default = ['
  for i in $(seq 1 "$regions"); do printf '"region-%02d"' "$i"; [ "$i" -lt "$regions" ] && printf ', '; done
  echo ']'
  echo '}'
  echo
  echo 'phase "units" {}'
  echo
  echo 'mode "steady" {'
  echo '  max_parallel = 8'
  echo '}'
  echo
  echo 'mode "wide" {'
  echo '  max_parallel = 24'
  echo '}'
  while read -r name res sleep deps level; do
    module "$out/units/$name" "$res"
    s=$(sec "$sleep")
    for i in $(seq 1 "$regions"); do
      r=$(printf 'region-%02d' "$i")
      echo "units/$name $r $r $s $level" >>"$out/units.txt"
    done
    echo
    echo "component \"$name\" {"
    echo '  phase             = "units"'
    echo '  driver            = "terraform"'
    echo '  regions           = var.regions'
    if [ "$deps" != - ]; then
      printf '  depends_on        = ['
      first=1
      for d in ${deps//,/ }; do [ $first = 1 ] || printf ', '; printf 'component.%s' "$d"; first=0; done
      echo ']'
    fi
    echo "  resources         = $res"
    echo "  resource_duration = \"${s}s\""
    echo
    echo '  terraform {'
    echo "    dir       = \"units/$name\""
    echo '    workspace = each.region'
    echo '    vars = {'
    echo '      region        = each.region'
    echo "      sleep_seconds = $s"
    echo '    }'
    echo '  }'
    echo '}'
  done <<<"$units"
  module "$out/units/global-dns" 1
  s=$(sec 0.5)
  echo "units/global-dns default global $s 3" >>"$out/units.txt"
  cat <<HCL

component "global-dns" {
  phase             = "units"
  driver            = "terraform"
  depends_on        = [component.app]
  resources         = 1
  resource_duration = "${s}s"

  terraform {
    dir = "units/global-dns"
    vars = {
      region        = "global"
      sleep_seconds = $s
    }
  }
}
HCL
} >"$out/spec.hcl"
echo "wrote $out: $((4 * regions + 1)) units in 5 directories, modes steady and wide"
