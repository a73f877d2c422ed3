#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for tests and benchmarks: initdb + pg_ctl in DIR,
# listening only on a Unix socket in DIR/sock (listen_addresses = ''), trust
# authentication for the superuser "postgres". About a second.
#
#   scripts/postgres.sh start DIR   create (first time) and start; prints the URL
#   scripts/postgres.sh env DIR     prints `export ECHELON_STORE_TEST_URL=URL`
#   scripts/postgres.sh stop DIR    stop the server and remove DIR
#
# The binaries come from /usr/lib/postgresql/15/bin (PGBIN overrides it);
# when they are missing and this is root (or has sudo), Debian's
# postgresql-15 is installed with apt-get. As root, the server runs as the
# "postgres" user (initdb refuses root). PGFSYNC=off turns fsync off (tests:
# a crash of the machine is not what they test); the default keeps it on.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: scripts/postgres.sh start|stop|env DIR" >&2
  exit 2
fi

url() { echo "postgres:///postgres?host=$1/sock&user=postgres&sslmode=disable"; }

install_pg() {
  [ -x "$PGBIN/initdb" ] && return 0
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      echo "postgres.sh: $PGBIN/initdb is missing and this is not root: install postgresql-15" >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "postgres.sh: $PGBIN/initdb is missing and there is no apt-get: install PostgreSQL 15" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "postgres.sh: installing Debian's postgresql-15 (apt-get) ..." >&2
  if ! $sudo apt-get install -y --no-install-recommends postgresql-15 >/dev/null 2>&1; then
    echo "postgres.sh: apt-get update ..." >&2
    $sudo apt-get update >/dev/null 2>&1 || true
    echo "postgres.sh: apt-get install postgresql-15 ..." >&2
    $sudo apt-get install -y --no-install-recommends postgresql-15 >/dev/null 2>&1 || {
      echo "postgres.sh: apt-get install postgresql-15 failed" >&2
      return 1
    }
  fi
  [ -x "$PGBIN/initdb" ] || { echo "postgres.sh: no $PGBIN/initdb after installing postgresql-15" >&2; return 1; }
  echo "postgres.sh: installed $PGBIN" >&2
}

# as runs a server binary: as the postgres user when this is root.
as() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$cmd" in
start)
  install_pg
  mkdir -p "$dir/sock"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$dir" "$dir/sock"
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync \
      --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2
      exit 1
    }
  fi
  if as "$PGBIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    url "$dir" # already running
    exit 0
  fi
  fsync=${PGFSYNC:-on}
  as "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses='' -k $dir/sock -c fsync=$fsync -c max_connections=200" \
    start >/dev/null || {
    cat "$dir/server.log" >&2
    exit 1
  }
  url "$dir"
  ;;
env)
  dir=$(cd "$dir" && pwd)
  echo "export ECHELON_STORE_TEST_URL='$(url "$dir")'"
  ;;
stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: scripts/postgres.sh start|stop|env DIR" >&2
  exit 2
  ;;
esac
