#!/usr/bin/env bash
# tools.sh: find or build the real tools the tests drive (terraform, tofu,
# kube-apiserver, kubectl, etcd, helm).
#
#   scripts/tools.sh          build what is missing, then list the tools
#   scripts/tools.sh --env    the same, but stdout is only `export ECHELON_X=...`
#                             lines for `eval`; progress goes to stderr
#   scripts/tools.sh [--env] terraform tofu kubernetes etcd helm
#                             only these (kubernetes = kube-apiserver + kubectl)
#
# Builds come from the Go module proxy through the build modules in
# scripts/tools/<name>/ (go.mod + go.sum committed, so every machine builds
# the same thing) into a cache that outlives any clone:
#   ${ECHELON_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/echelon}/tools/<name>-<version>/
# A cached binary is reused when it still answers `version`.
#
# Environment:
#   ECHELON_TERRAFORM, ECHELON_TOFU, ECHELON_KUBECTL, ECHELON_HELM,
#   ECHELON_KUBE_APISERVER, ECHELON_ETCD
#                      use this binary instead (when it is executable)
#   ECHELON_FORCE_BUILD=terraform,tofu,kubernetes,etcd,helm|all
#                      rebuild these even if found on PATH or in the cache
#   ECHELON_BUILD_P    go build -p (default 2: the builds share small machines)
#   ECHELON_HEARTBEAT  seconds between "still building" lines (default 30)
#
# Progress goes to stderr: a line per tool with where it was found and the
# time it took, and during a build a line every ECHELON_HEARTBEAT seconds,
# so a cold first run (about 12 minutes) never looks hung.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache="${ECHELON_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/echelon}/tools"
force=",${ECHELON_FORCE_BUILD:-},"
jobs="${ECHELON_BUILD_P:-2}"
heartbeat="${ECHELON_HEARTBEAT:-30}"
[[ "$heartbeat" =~ ^[1-9][0-9]*$ ]] || heartbeat=30
env_only=false
only=()
for arg in "$@"; do
  case "$arg" in
    --env) env_only=true ;;
    terraform|tofu|kubernetes|etcd|helm) only+=("$arg") ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "usage: scripts/tools.sh [--env] [terraform|tofu|kubernetes|etcd|helm]..." >&2; exit 2 ;;
  esac
done
[ ${#only[@]} -gt 0 ] || only=(terraform tofu kubernetes etcd helm)

log() { printf 'tools: %s\n' "$*" >&2; }
forced() { [[ "$force" == *",$1,"* || "$force" == *",all,"* ]]; }

# The go directive of a build module may be newer than an old local Go; let
# the go command fetch the toolchain from the proxy then, and never let a
# go.work around a clone capture the build.
export GOWORK=off
export CHECKPOINT_DISABLE=1 # terraform version must not phone home
unset GOBIN GOOS GOARCH

# modversion DIR MODULE: the version DIR/go.mod requires of MODULE: the pins
# live in the build modules only.
modversion() {
  awk -v m="$2" '$1 == "require" { $1 = ""; $0 = $0 } $1 == m && $2 ~ /^v/ { print $2; exit }' "$1/go.mod"
}

# answers BIN ARGS...: BIN exists and prints its version.
answers() {
  local bin=$1; shift
  [ -x "$bin" ] && "$bin" "$@" >/dev/null 2>&1
}

# build NAME-VERSION FUNC BIN CHECK-ARGS...: run FUNC TMPDIR under a
# per-tool lock, then move TMPDIR into the cache in one rename, so a
# concurrent or interrupted run never sees a half-built directory.
build() {
  local key=$1 func=$2 dest="$cache/$1"
  shift 2
  mkdir -p "$cache"
  exec 9>"$cache/.$key.lock"
  flock 9 2>/dev/null || true
  if ! forced "${key%%-*}" && answers "$@"; then
    exec 9>&-
    return 0 # another run built it while we waited
  fi
  local tmp start
  # Holding the lock, leftovers of an interrupted build are nobody's.
  rm -rf "$cache/.$key."??????
  tmp=$(mktemp -d "$cache/.$key.XXXXXX")
  chmod 755 "$tmp"
  start=$(date +%s)
  log "building $key (cold builds take minutes; output cached in $dest)"
  # A heartbeat while go build is silent. It must not keep the lock (fd 9)
  # or stdout (eval'd with --env) open.
  (
    exec 9>&- >/dev/null
    while sleep "$heartbeat"; do
      log "still building $key: $(($(date +%s) - start))s so far"
    done
  ) &
  local hb=$!
  local ok=true
  "$func" "$tmp" >&2 || ok=false
  kill "$hb" 2>/dev/null || true
  wait "$hb" 2>/dev/null || true
  if ! $ok; then
    rm -rf "$tmp"
    exec 9>&-
    log "building $key FAILED after $(($(date +%s) - start))s"
    return 1
  fi
  rm -rf "$dest.old"
  [ -d "$dest" ] && mv "$dest" "$dest.old"
  mv "$tmp" "$dest"
  rm -rf "$dest.old"
  exec 9>&-
  log "built $key in $(($(date +%s) - start))s"
}

# -mod=readonly: the committed go.sum decides, whatever GOFLAGS says.
gobuild() { nice -n 10 go build -mod=readonly -p "$jobs" -trimpath "$@"; }

failed=()
declare -A found

# --- terraform: PATH first; else v1.5.7, the last MPL-licensed release.
tf_version=v1.5.7
build_terraform() {
  GOBIN="$1" nice -n 10 go install -p "$jobs" -trimpath -ldflags "-s -w" \
    "github.com/hashicorp/terraform@$tf_version"
}
find_terraform() {
  if answers "${ECHELON_TERRAFORM:-}" version; then found[TERRAFORM]=$ECHELON_TERRAFORM; return; fi
  if ! forced terraform && command -v terraform >/dev/null && answers "$(command -v terraform)" version; then
    found[TERRAFORM]=$(command -v terraform); return
  fi
  local bin="$cache/terraform-$tf_version/terraform"
  if forced terraform || ! answers "$bin" version; then
    build "terraform-$tf_version" build_terraform "$bin" version || { failed+=(terraform); return; }
  fi
  found[TERRAFORM]=$bin
}

# --- tofu (OpenTofu): PATH first; else built from its module on the proxy.
# `go install module@version` refuses it (its go.mod replaces hcl/v2 with
# OpenTofu's fork), so the build runs in the downloaded module itself: its
# own go.mod and go.sum decide every dependency, as in OpenTofu's release
# builds, and the version comes from its embedded version/VERSION (dev=no:
# the release's ldflags, else it says 1.12.6-dev).
tofu_version=v1.12.6
build_tofu() {
  local src
  src=$(cd "$1" && go mod download -json "github.com/opentofu/opentofu@$tofu_version" |
    awk -F'"' '$2 == "Dir" { print $4; exit }')
  [ -n "$src" ] && [ -f "$src/go.mod" ] || { log "go mod download gave no source directory"; return 1; }
  (cd "$src" && gobuild -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" -o "$1/tofu" ./cmd/tofu)
}
find_tofu() {
  if answers "${ECHELON_TOFU:-}" version; then found[TOFU]=$ECHELON_TOFU; return; fi
  if ! forced tofu && command -v tofu >/dev/null && answers "$(command -v tofu)" version; then
    found[TOFU]=$(command -v tofu); return
  fi
  local bin="$cache/tofu-$tofu_version/tofu"
  if forced tofu || ! answers "$bin" version; then
    build "tofu-$tofu_version" build_tofu "$bin" version || { failed+=(tofu); return; }
  fi
  found[TOFU]=$bin
}

# --- kube-apiserver and kubectl: one build, so the compile is shared. kubectl
# is always ours (not PATH's) so client and server versions match everywhere.
k8s_dir="$here/tools/k8s"
k8s_version=$(modversion "$k8s_dir" k8s.io/kubernetes)
build_kubernetes() {
  local v=$k8s_version minor ld="-s -w" p
  minor=${v#v1.}; minor=${minor%%.*}
  # What hack/lib/version.sh stamps: the apiserver derives its compatibility
  # version from it and kubectl reports it.
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "$k8s_dir" && gobuild -ldflags "$ld" -o "$1/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl)
}
find_kubernetes() {
  local dir="$cache/kubernetes-$k8s_version" need=false
  if answers "${ECHELON_KUBE_APISERVER:-}" --version; then
    found[KUBE_APISERVER]=$ECHELON_KUBE_APISERVER
  else
    need=true
  fi
  if answers "${ECHELON_KUBECTL:-}" version --client; then
    found[KUBECTL]=$ECHELON_KUBECTL
  else
    need=true
  fi
  $need || forced kubernetes || return 0
  if forced kubernetes || ! answers "$dir/kube-apiserver" --version || ! answers "$dir/kubectl" version --client; then
    build "kubernetes-$k8s_version" build_kubernetes "$dir/kube-apiserver" --version || { failed+=(kubernetes); return; }
  fi
  [ -n "${found[KUBE_APISERVER]:-}" ] || found[KUBE_APISERVER]=$dir/kube-apiserver
  [ -n "${found[KUBECTL]:-}" ] || found[KUBECTL]=$dir/kubectl
}

# --- etcd: a two-line main over etcdmain, siblings pinned in its go.mod.
etcd_dir="$here/tools/etcd"
etcd_version=$(modversion "$etcd_dir" go.etcd.io/etcd/server/v3)
build_etcd() {
  (cd "$etcd_dir" && gobuild -ldflags "-s -w" -o "$1/etcd" .)
}
find_etcd() {
  if answers "${ECHELON_ETCD:-}" --version; then found[ETCD]=$ECHELON_ETCD; return; fi
  local bin="$cache/etcd-$etcd_version/etcd"
  if forced etcd || ! answers "$bin" --version; then
    build "etcd-$etcd_version" build_etcd "$bin" --version || { failed+=(etcd); return; }
  fi
  found[ETCD]=$bin
}

# --- helm.
helm_dir="$here/tools/helm"
helm_version=$(modversion "$helm_dir" helm.sh/helm/v3)
build_helm() {
  local p=helm.sh/helm/v3/internal/version
  (cd "$helm_dir" && gobuild -ldflags "-s -w -X $p.version=$helm_version -X $p.gitTreeState=clean" \
    -o "$1/helm" helm.sh/helm/v3/cmd/helm)
}
find_helm() {
  if answers "${ECHELON_HELM:-}" version; then found[HELM]=$ECHELON_HELM; return; fi
  local bin="$cache/helm-$helm_version/helm"
  if forced helm || ! answers "$bin" version; then
    build "helm-$helm_version" build_helm "$bin" version || { failed+=(helm); return; }
  fi
  found[HELM]=$bin
}

# tool_names TOOL: the found[] keys a tool fills.
tool_names() {
  case "$1" in
    terraform) echo TERRAFORM ;;
    tofu) echo TOFU ;;
    kubernetes) echo KUBE_APISERVER KUBECTL ;;
    etcd) echo ETCD ;;
    helm) echo HELM ;;
  esac
}

all_start=$(date +%s)
log "finding ${only[*]} (in the environment, PATH for terraform and tofu, or $cache)"
for tool in "${only[@]}"; do
  tool_start=$(date +%s)
  "find_$tool"
  where=""
  for name in $(tool_names "$tool"); do
    [ -z "${found[$name]:-}" ] || where+=" ${found[$name]}"
  done
  log "$tool:${where:- not found} ($(($(date +%s) - tool_start))s)"
done
log "done in $(($(date +%s) - all_start))s"

for name in TERRAFORM TOFU KUBECTL HELM KUBE_APISERVER ETCD; do
  [ -n "${found[$name]:-}" ] || continue
  if $env_only; then
    printf 'export ECHELON_%s=%q\n' "$name" "${found[$name]}"
  else
    printf '%-16s %s\n' "$name" "${found[$name]}"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  log "could not build: ${failed[*]} (the tests that need them skip, or fail under CI)"
  exit 1
fi
