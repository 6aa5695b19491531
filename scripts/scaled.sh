#!/usr/bin/env bash
# The scaled set-up on one machine: PostgreSQL and Redis on loopback (data under var/scaled), ASGI servers and
# Celery workers. Usage: scripts/scaled.sh start|stop|services|stop-services|restart-redis|stop-db|start-db|env|test
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VAR=${SCALED_DIR:-$ROOT/var/scaled}
PG_PORT=${PG_PORT:-55432}
REDIS_PORT=${REDIS_PORT:-56379}
SERVER_PORTS=${SERVER_PORTS:-"8001 8002"}
WORKERS=${WORKERS:-2}
PY=$ROOT/.venv/bin/python
DATABASE_URL=${DATABASE_URL:-postgres://engagement:engagement@127.0.0.1:$PG_PORT/engagement}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}
CELERY_BROKER_URL=${CELERY_BROKER_URL:-redis://127.0.0.1:$REDIS_PORT/1}
export DATABASE_URL REDIS_URL CELERY_BROKER_URL
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

install_packages() {
  if [ -z "$(pg_bin)" ] || ! command -v redis-server >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql redis-server >/dev/null
  fi
}

# PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start_db() {
  local bin; bin=$(pg_bin)
  mkdir -p "$VAR/pg" "$VAR/logs"
  [ "$(id -u)" = 0 ] && chown postgres "$VAR/pg" "$VAR/logs" && chmod 700 "$VAR/pg"
  if [ ! -f "$VAR/pg/PG_VERSION" ]; then
    as_pg "$bin/initdb" -D "$VAR/pg" -U postgres --auth=trust >/dev/null
  fi
  if ! as_pg "$bin/pg_ctl" -D "$VAR/pg" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$VAR/pg" -l "$VAR/logs/postgres.log" -w \
      -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $VAR/pg -c max_connections=200 -c fsync=off" start >/dev/null
  fi
  local psql=("$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qtA)
  if [ -z "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname='engagement'")" ]; then
    "${psql[@]}" -c "CREATE ROLE engagement LOGIN PASSWORD 'engagement' CREATEDB"
  fi
  if [ -z "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname='engagement'")" ]; then
    "${psql[@]}" -c "CREATE DATABASE engagement OWNER engagement"
  fi
}

stop_db() {
  local bin; bin=$(pg_bin)
  [ -f "$VAR/pg/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$VAR/pg" -m fast -w stop >/dev/null 2>&1 || true
}

start_redis() {
  mkdir -p "$VAR/redis" "$VAR/logs"
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    # appendonly: queued frames survive a restart.
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$VAR/redis" --appendonly yes --save "" \
      --daemonize yes --pidfile "$VAR/redis/redis.pid" --logfile "$VAR/logs/redis.log"
    # Ready means PONG: while Redis replays its append-only file it answers "LOADING", and clients fail.
    for _ in $(seq 300); do [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
  fi
}

stop_redis() { redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true; sleep 0.2; }

start_apps() {
  mkdir -p "$VAR/run" "$VAR/logs"
  # One secret key for all the processes, kept with the data.
  [ -f "$VAR/secret_key" ] || "$PY" -c "import secrets; print(secrets.token_urlsafe(50))" >"$VAR/secret_key"
  DJANGO_SECRET_KEY=${DJANGO_SECRET_KEY:-$(cat "$VAR/secret_key")}
  export DJANGO_SECRET_KEY
  "$PY" "$ROOT/manage.py" migrate --noinput -v0
  if [ "${DEMO:-0}" = 1 ]; then "$PY" "$ROOT/manage.py" demo_setup --port "${SERVER_PORTS%% *}"; fi
  cd "$ROOT"
  for port in $SERVER_PORTS; do
    nohup "$PY" -m proctoring.serve -b 127.0.0.1 -p "$port" \
      </dev/null >"$VAR/logs/server-$port.log" 2>&1 &
    echo $! >"$VAR/run/server-$port.pid"
  done
  for i in $(seq "$WORKERS"); do
    # One process per worker (solo pool): it loads the models once and analyses one frame at a time.
    nohup "$PY" -m celery -A proctoring worker --pool solo -n "worker$i@%h" --loglevel info \
      </dev/null >"$VAR/logs/worker-$i.log" 2>&1 &
    echo $! >"$VAR/run/worker-$i.pid"
  done
  for port in $SERVER_PORTS; do
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
  done
}

stop_apps() {
  for pidfile in "$VAR"/run/*.pid; do
    [ -f "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

print_env() {
  echo "DATABASE_URL=$DATABASE_URL"
  echo "REDIS_URL=$REDIS_URL"
  echo "CELERY_BROKER_URL=$CELERY_BROKER_URL"
}

case "${1:-}" in
  services) install_packages; start_db; start_redis; print_env ;;
  stop-services) stop_redis; stop_db ;;
  start)
    install_packages; start_db; start_redis; start_apps
    for port in $SERVER_PORTS; do echo "server: http://127.0.0.1:$port/"; done
    echo "workers: $WORKERS Celery workers (logs in $VAR/logs)"
    print_env ;;
  stop) stop_apps; stop_redis; stop_db ;;
  restart-redis) stop_redis; start_redis ;;
  stop-db) stop_db ;;
  start-db) start_db ;;
  env) print_env ;;
  test)
    # The whole test suite on PostgreSQL + Redis of its own (other ports and data than `start`, which it must
    # not disturb); the tests start their own Celery workers on the test database.
    if [ -z "${SCALED_TEST:-}" ]; then
      # TEST_PG_PORT / TEST_REDIS_PORT let two checkouts on one machine run this at the same time.
      exec env SCALED_TEST=1 SCALED_DIR="$ROOT/var/test-scaled" PG_PORT="${TEST_PG_PORT:-55433}" \
        REDIS_PORT="${TEST_REDIS_PORT:-56380}" \
        DATABASE_URL= REDIS_URL= CELERY_BROKER_URL= "$0" "$@"
    fi
    export SCALED_DIR PG_PORT REDIS_PORT
    shift
    install_packages; start_db; start_redis
    trap 'stop_redis; stop_db' EXIT
    (cd "$ROOT" && "$PY" -m pytest "$@") ;;
  *) echo "usage: $0 start|stop|services|stop-services|restart-redis|stop-db|start-db|env|test" >&2; exit 2 ;;
esac
