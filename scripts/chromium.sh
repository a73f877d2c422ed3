#!/usr/bin/env bash
# Installs Debian's chromium for the HTML report's browser test
# (review/html_browser_test.go) when /usr/bin/chromium is missing. Needs
# root or sudo and Debian's package archive; when it cannot install, it
# says so and exits 0: the test then skips with that reason.
set -uo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
    echo "chromium.sh: not root and no sudo: cannot install chromium" >&2; exit 0
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium.sh: no apt-get: install chromium yourself for the HTML report test" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; then
  $sudo apt-get update >/dev/null 2>&1 || true
  $sudo apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 ||
    echo "chromium.sh: apt-get install chromium failed" >&2
fi
exit 0
