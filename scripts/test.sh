#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: installs the programs the tests start beside the
# gateway when they are missing (Debian packages: HAProxy, nginx, Caddy, Redis; python3-venv for
# the compatibility suite's virtualenv), then runs `cargo test`. Idempotent: nothing is
# installed twice. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for pair in haproxy:haproxy nginx:nginx caddy:caddy redis-server:redis-server; do
  program=${pair%%:*} package=${pair#*:}
  command -v "$program" >/dev/null 2>&1 || [ -x "/usr/sbin/$program" ] || missing+=("$package")
done
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: missing ${missing[*]}; install them (apt-get install -y ${missing[*]}) or run as root" >&2
    exit 1
  fi
  echo "scripts/test.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
exec cargo test --locked "$@"
