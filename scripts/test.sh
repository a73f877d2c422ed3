#!/usr/bin/env bash
# make test: lint, the whole test suite under the race detector, a short fuzz.
# The real tools the tests drive (terraform, kube-apiserver, etcd, kubectl,
# helm) come from scripts/tools.sh, which builds what is missing into a cache.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== lint"
make -s lint

if [ -f scripts/tools.sh ]; then
  echo "== tools"
  # tools.sh prints export lines for the tool paths it found or built.
  eval "$(bash scripts/tools.sh --env)"
fi

echo "== chromium (for the HTML report test)"
bash scripts/chromium.sh

echo "== postgres (for the store tests)"
# One throwaway server for every test binary (store/pgtest uses it through
# ECHELON_STORE_TEST_URL); a store test fails rather than skips without it.
pgdir=$(mktemp -d /tmp/echelon-pg-XXXXXX)
trap 'bash scripts/postgres.sh stop "$pgdir"' EXIT
ECHELON_STORE_TEST_URL=$(PGFSYNC=off bash scripts/postgres.sh start "$pgdir")
export ECHELON_STORE_TEST_URL ECHELON_REQUIRE_POSTGRES=1

echo "== go test -race"
go test -race -count=1 -timeout 25m ./...

echo "== fuzz (short)"
# -fuzzminimizetime 100x: minimizing each new input for the default 60 s
# would take the whole budget on plans of a few KB. Budgets are counts of
# executions, not durations: with a duration, Go 1.26's coordinator can
# report its own deadline as a failure ("context deadline exceeded", no
# input written) when a loaded machine starves its workers at the end
# (go.dev/issue/75804, fixed in Go 1.27). The counts are about what 10-20 s
# ran on this 2-core machine.
fuzz_pkg() { # PACKAGE EXECUTIONS
  for target in $(go test "$1" -list '^Fuzz' | grep '^Fuzz' || true); do
    go test "$1" -run '^$' -fuzz "^${target}\$" -fuzztime "$2" -fuzzminimizetime 100x
  done
}
fuzz_pkg ./lang 30000x
fuzz_pkg ./planner 40000x
fuzz_pkg ./exec 10000x
