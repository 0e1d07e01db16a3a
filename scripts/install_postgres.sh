#!/usr/bin/env bash
# Install Debian's PostgreSQL server for the Postgres-instance test and `make ui|demo INSTANCE=postgres`, once.
# Idempotent: does nothing when a server (initdb + pg_ctl under /usr/lib/postgresql/<major>/bin) exists.
# Needs root (or sudo) and apt. Only the binaries are used: scripts/local_postgres.sh runs a private
# cluster of its own, so the Debian package's default cluster is neither needed nor touched.
set -euo pipefail

have_server() {
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null
}

if have_server; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_postgres.sh: no PostgreSQL server under /usr/lib/postgresql/*/bin and apt-get is not available;" >&2
  echo "  install PostgreSQL (initdb, pg_ctl) with your package manager, then re-run make test." >&2
  exit 1
fi

SUDO=""
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install_postgres.sh: installing PostgreSQL needs root; run: apt-get update && apt-get install -y postgresql" >&2
    exit 1
  fi
fi

echo "Installing Debian's postgresql for the Postgres instance test (one time)..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
have_server || { echo "install_postgres.sh: apt-get finished but /usr/lib/postgresql/*/bin/initdb is still missing." >&2; exit 1; }
