#!/usr/bin/env bash
# Install the Debian packages the local stacks, the build and the benchmarks need,
# only the ones that are missing (checked with dpkg first; apt-get update runs at
# most once, and only when something must be installed).
#
# Extra packages can be added with DEPS_EXTRA="pkg1 pkg2".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PACKAGES=(
  postgresql postgresql-contrib   # PostgreSQL 15 server, initdb, pg_ctl, pg_stat_statements
  redis-server redis-tools        # redis-server, redis-cli
  haproxy                         # load balancer for `make run`
  libhiredis-dev libpq-dev        # C libraries the Swift package links
  pkg-config                      # SwiftPM finds libpq/hiredis through it
  curl wrk                        # health checks, load generation
  procps util-linux               # ps, runuser, flock, setsid, setpriv
  patroni etcd-server             # PG_MODE=ha: PostgreSQL under Patroni, etcd as its consensus store
)
# shellcheck disable=SC2206
PACKAGES+=(${DEPS_EXTRA:-})

installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done

if (( ${#missing[@]} == 0 )); then
  exit 0
fi

log "installing missing packages: ${missing[*]}"
SUDO=()
if [[ $EUID -ne 0 ]]; then
  command -v sudo >/dev/null || die "not root and sudo is not available; install as root: apt-get install ${missing[*]}"
  SUDO=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

for pkg in "${missing[@]}"; do
  installed "$pkg" || die "package $pkg is still not installed"
done
log "dependencies installed"
