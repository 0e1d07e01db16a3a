#!/usr/bin/env bash
# A private PostgreSQL cluster for the Dagster instance (dagster.postgres.yaml) on this machine.
#
#   scripts/local_postgres.sh start    initialise (first time) and start it; create role + database
#   scripts/local_postgres.sh stop     stop it (fast shutdown; data kept)
#   scripts/local_postgres.sh status   "running on 127.0.0.1:<port>" (exit 0) or "not running" (exit 3)
#   scripts/local_postgres.sh env      the DAGSTER_PG_* variables dagster.postgres.yaml reads, as `export` lines
#
# Why a cluster of its own instead of the distribution's: it lives under the project's home, listens on
# 127.0.0.1 only, on its own port, with its own generated password, so it never collides with a
# system PostgreSQL and is gone with the home. Settings (environment):
#   RETAIL_ASSETS_PG_DIR   cluster directory (default $RETAIL_ASSETS_HOME/postgres, home default ./.retail)
#   RETAIL_ASSETS_PG_PORT  TCP port on 127.0.0.1 (default 55432)
# Layout: data/ (the cluster), run/ (its socket), postgres.log, password (role password, mode 600).
# The server refuses to run as root, so when started by root it runs as the `postgres` user that
# Debian's postgresql package creates (runuser); binaries from /usr/lib/postgresql/<newest>/bin
# (scripts/install_postgres.sh installs them).
set -euo pipefail

HOME_DIR=${RETAIL_ASSETS_HOME:-$PWD/.retail}
PG_DIR=${RETAIL_ASSETS_PG_DIR:-$HOME_DIR/postgres}
PORT=${RETAIL_ASSETS_PG_PORT:-55432}
DATA=$PG_DIR/data
RUN_DIR=$PG_DIR/run
LOG=$PG_DIR/postgres.log
SECRET=$PG_DIR/password
ADMIN_USER=postgres
DB_USER=dagster
DB_NAME=dagster
SERVER_USER=postgres

die() { echo "local_postgres.sh: $*" >&2; exit 2; }

pg_bin() {
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [[ -n "$newest" && -x "$newest/pg_ctl" && -x "$newest/initdb" ]] \
    || die "no PostgreSQL server under /usr/lib/postgresql/*/bin; install it with: bash scripts/install_postgres.sh (or make postgresql)"
  echo "$newest"
}

as_server() {
  if [[ "$(id -u)" -eq 0 ]]; then
    runuser -u "$SERVER_USER" -- "$@"
  else
    "$@"
  fi
}

running_port() {
  # postmaster.pid line 4 is the port of the running server
  [[ -f "$DATA/postmaster.pid" ]] && sed -n 4p "$DATA/postmaster.pid"
}

is_running() {
  [[ -f "$DATA/PG_VERSION" ]] && as_server "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

prepare_dir() {
  mkdir -p "$PG_DIR"
  if [[ "$(id -u)" -eq 0 ]]; then
    id "$SERVER_USER" >/dev/null 2>&1 \
      || die "running as root, but there is no '$SERVER_USER' user to run the server as; install Debian's postgresql (bash scripts/install_postgres.sh)"
    chown "$SERVER_USER": "$PG_DIR"
    runuser -u "$SERVER_USER" -- test -w "$PG_DIR" \
      || die "the '$SERVER_USER' user cannot reach $PG_DIR (a parent directory is not searchable by it); set RETAIL_ASSETS_PG_DIR to a directory it can reach, e.g. /var/tmp/retail-postgres"
  fi
  chmod 700 "$PG_DIR"
  as_server mkdir -p "$RUN_DIR"
}

initialise() {
  if [[ ! -s "$SECRET" ]]; then
    as_server sh -c "umask 077; od -An -tx1 -N18 /dev/urandom | tr -d ' \n' > '$SECRET'"
  fi
  as_server "$BIN/initdb" -D "$DATA" -U "$ADMIN_USER" --pwfile="$SECRET" -E UTF8 --no-locale \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed (log above, also in $PG_DIR/initdb.log)"; }
  as_server sh -c "cat >> '$DATA/postgresql.conf'" <<CONF

# retail_assets: a private cluster, loopback only (scripts/local_postgres.sh)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$RUN_DIR'
CONF
}

psql_admin() {
  PGPASSWORD=$(cat "$SECRET") "$BIN/psql" -h 127.0.0.1 -p "$(running_port)" -U "$ADMIN_USER" -d postgres \
    -v ON_ERROR_STOP=1 -qAt "$@"
}

ensure_database() {
  local password
  password=$(cat "$SECRET")
  if [[ -z "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'")" ]]; then
    psql_admin -c "CREATE ROLE $DB_USER LOGIN PASSWORD '$password'"
  fi
  if [[ -z "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" ]]; then
    psql_admin -c "CREATE DATABASE $DB_NAME OWNER $DB_USER"
  fi
}

start() {
  prepare_dir
  [[ -f "$DATA/PG_VERSION" ]] || initialise
  if ! is_running; then
    if ! as_server "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 -o "-p $PORT" start >/dev/null; then
      tail -n 20 "$LOG" >&2 || true
      die "the server did not start (log above, whole log in $LOG); if port $PORT is taken, set RETAIL_ASSETS_PG_PORT to a free port"
    fi
  fi
  ensure_database
  echo "PostgreSQL running on 127.0.0.1:$(running_port) (cluster $PG_DIR, database $DB_NAME)"
}

stop() {
  if is_running; then
    as_server "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
    echo "PostgreSQL stopped (cluster $PG_DIR)"
  else
    echo "PostgreSQL not running (cluster $PG_DIR)"
  fi
}

status() {
  if is_running; then
    echo "running on 127.0.0.1:$(running_port) (cluster $PG_DIR, database $DB_NAME)"
  else
    echo "not running (cluster $PG_DIR)"
    exit 3
  fi
}

print_env() {
  is_running || die "not running (cluster $PG_DIR); start it first: scripts/local_postgres.sh start"
  echo "export DAGSTER_PG_HOST=127.0.0.1"
  echo "export DAGSTER_PG_PORT=$(running_port)"
  echo "export DAGSTER_PG_USER=$DB_USER"
  echo "export DAGSTER_PG_PASSWORD=$(cat "$SECRET")"
  echo "export DAGSTER_PG_DB=$DB_NAME"
}

BIN=$(pg_bin)
case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
