#!/usr/bin/env bash
# Private PostgreSQL clusters: throwaway ones for the CTest fixture, and the
# kept development cluster of `./dev run`.
#
#   pgcluster.sh ensure DIR PORT  kept cluster: initialise DIR once (fsync on), start it
#                                 on PORT unless running, write DIR/url (used by ./dev)
#   pgcluster.sh start DIR        fresh throwaway cluster (wipes DIR, fsync off), random
#                                 port in 20000-32000, writes DIR/url and DIR/port
#   pgcluster.sh stop DIR        fast stop, then removes DIR (and the cluster)
#   pgcluster.sh restart DIR     fast restart on the same port (starts it if down)
#   pgcluster.sh stop-keep DIR   fast stop, keep the data
#   pgcluster.sh start-keep DIR  start the kept data again on the same port
#
# If DATABASE_URL is set, `start` only writes it to DIR/url and `stop` does
# nothing; restart/stop-keep/start-keep then exit 77 (the cluster is not ours;
# use SKIP_RETURN_CODE 77 in CTest).
# Silent on success; errors go to stderr. Every command is idempotent.
set -euo pipefail
umask 022

readonly SKIP_RC=77
readonly MARK=.oms-pgfix           # marks DIR as ours, so we never wipe anything else
readonly SOCK_MAX=92               # unix socket path "$REAL/.s.PGSQL.NNNNN" must stay < 108 bytes

die() { echo "pgcluster: $*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: pgcluster.sh ensure DIR PORT | start|stop|restart|stop-keep|start-keep DIR"
CMD=$1
[ -n "$2" ] || die "DIR must not be empty"
DIR=$(realpath -m -- "$2")
case "$DIR" in
  / | /tmp | /root | /home | /work | /usr | /etc | /var | "$HOME") die "refusing to use $DIR as fixture directory" ;;
esac
HASH=$(printf '%s' "$DIR" | sha256sum | cut -c1-16)
IS_ROOT=0; [ "$(id -u)" = 0 ] && IS_ROOT=1

# One invocation at a time per DIR.
LOCK="${TMPDIR:-/tmp}/oms-pgfix-$HASH-$(id -u).lock"
exec 9>>"$LOCK" || die "cannot open lock file $LOCK"
flock 9

BIN=
find_bin() {
  [ -n "$BIN" ] && return 0
  # shellcheck disable=SC2012  # the brief's recipe: newest major version wins
  BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  { [ -n "$BIN" ] && [ -x "$BIN/pg_ctl" ]; } || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (apt-get install postgresql)"
  if [ "$IS_ROOT" = 1 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres \
      || die "cannot create the postgres system user"
  fi
}

# Run a command as the cluster owner (initdb refuses uid 0). cd / so the
# postgres user never trips over an unreadable working directory.
as_pg() {
  if [ "$IS_ROOT" = 1 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

pg_traversable() {   # can the cluster owner reach (search) this directory?
  [ "$IS_ROOT" = 1 ] || return 0
  (cd / && runuser -u postgres -- test -x "$1" -a -r "$1") 2>/dev/null
}

is_ours() { [ -e "$1/$MARK" ]; }

# Where the cluster actually lives (DIR itself, or /tmp/oms-pgfix-HASH).
recorded_real() {
  local r=
  [ -f "$DIR/real" ] && r=$(cat "$DIR/real")
  printf '%s' "$r"
}

is_running() { as_pg "$BIN/pg_ctl" -D "$1/data" status >/dev/null 2>&1; }

stop_cluster() {   # stop_cluster REAL [mode]
  local real=$1 out
  [ -n "$real" ] && [ -f "$real/data/PG_VERSION" ] || return 0
  find_bin
  is_running "$real" || return 0
  if ! out=$(as_pg "$BIN/pg_ctl" -D "$real/data" -m "${2:-fast}" -w -t 60 stop 2>&1); then
    out=$(as_pg "$BIN/pg_ctl" -D "$real/data" -m immediate -w -t 30 stop 2>&1) \
      || { echo "$out" >&2; die "could not stop the cluster in $real/data"; }
  fi
}

safe_wipe() {   # remove DIR and its cluster, but only if they are ours
  local real
  if [ -e "$DIR" ]; then
    [ -d "$DIR" ] || die "$DIR exists and is not a directory"
    if [ -n "$(ls -A "$DIR" 2>/dev/null)" ] && ! is_ours "$DIR"; then
      die "refusing to wipe $DIR: not empty and not a pg_fixture directory (no $MARK)"
    fi
    real=$(recorded_real)
    if [ -n "$real" ]; then
      stop_cluster "$real" immediate
      case "$real" in "$DIR" | /tmp/oms-pgfix-*) rm -rf -- "$real" ;; esac
    fi
    rm -rf -- "$DIR"
  fi
}

wait_ready() {
  local port=$1
  "$BIN/pg_isready" -h 127.0.0.1 -p "$port" -t 30 -q \
    || die "server on port $port did not become ready (see $(recorded_real)/server.log)"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pg_start_on() {   # pg_start_on REAL PORT -> 0 if the server came up
  local real=$1 port=$2
  # 9>&- : the server must not inherit our lock, or it would hold it forever.
  as_pg "$BIN/pg_ctl" -D "$real/data" -l "$real/server.log" -w -t 60 -o "-p $port" start \
    >>"$DIR/pg_ctl.log" 2>&1 9>&-
}

external() {
  [ -e "$DIR/external" ] && return 0
  [ -n "${DATABASE_URL:-}" ] && [ -z "$(recorded_real)" ]
}

# init_cluster REAL THROWAWAY: initdb as the cluster owner and write our settings.
init_cluster() {
  local real=$1 throwaway=$2
  if [ "$IS_ROOT" = 1 ]; then
    install -d -o postgres -g "$(id -gn postgres)" -m 755 "$real"
  else
    install -d -m 755 "$real"
  fi
  printf '%s\n' "$real" >"$DIR/real"
  if ! as_pg "$BIN/initdb" -D "$real/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
      >"$DIR/initdb.log" 2>&1; then
    cat "$DIR/initdb.log" >&2
    die "initdb failed for $real/data"
  fi
  local sockdir=${real//\'/\'\'}
  {
    printf '\n# --- pgcluster.sh ---\n'
    printf "listen_addresses = '127.0.0.1'\n"
    printf "unix_socket_directories = '%s'\n" "$sockdir"
    printf 'max_connections = 200\n'
    if [ "$throwaway" = 1 ]; then
      printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n'
    fi
  } | as_pg tee -a "$real/data/postgresql.conf" >/dev/null
}

# Where a new cluster for DIR lives: DIR itself, unless the cluster owner cannot
# reach it (a root-owned 0700 home) or the socket path would be too long.
choose_real() {
  local real=$DIR
  if ! pg_traversable "$DIR" || [ "${#DIR}" -gt "$SOCK_MAX" ]; then
    real=/tmp/oms-pgfix-$HASH
    stop_cluster "$real" immediate
    rm -rf -- "$real"
    ln -sfn "$real" "$DIR/cluster"
  fi
  printf '%s' "$real"
}

cmd_start() {
  safe_wipe
  mkdir -p -- "$DIR"
  : >"$DIR/$MARK"
  if [ -n "${DATABASE_URL:-}" ]; then
    printf '%s\n' "$DATABASE_URL" >"$DIR/url"
    : >"$DIR/external"
    return 0
  fi
  find_bin
  local real
  real=$(choose_real)
  init_cluster "$real" 1

  local _ port=
  for _ in $(seq 1 20); do
    port=$((20000 + RANDOM % 12001))
    port_in_use "$port" && continue
    if pg_start_on "$real" "$port"; then
      printf '%s\n' "$port" >"$DIR/port"
      wait_ready "$port"
      printf 'postgresql://postgres@127.0.0.1:%s/postgres\n' "$port" >"$DIR/url"
      return 0
    fi
  done
  tail -n 20 "$real/server.log" >&2 2>/dev/null || true
  die "could not start PostgreSQL on a free port in 20000-32000 after 20 tries (log: $real/server.log)"
}

cmd_ensure() {
  local port=$1 real
  [[ "$port" =~ ^[0-9]+$ ]] || die "ensure needs a port number"
  find_bin
  mkdir -p -- "$DIR"
  real=$(recorded_real)
  if [ -z "$real" ] || [ ! -f "$real/data/PG_VERSION" ]; then
    if [ -n "$(ls -A "$DIR" 2>/dev/null)" ] && ! is_ours "$DIR"; then
      die "refusing to initialise a cluster in $DIR: not empty and not made by pgcluster.sh"
    fi
    : >"$DIR/$MARK"
    real=$(choose_real)
    init_cluster "$real" 0
    echo "pgcluster: initialised a PostgreSQL cluster in $real/data" >&2
  fi
  printf '%s\n' "$port" >"$DIR/port"
  if ! is_running "$real"; then
    port_in_use "$port" && die "port $port is taken by another process; set OMS_DEV_PG_PORT to a free port"
    pg_start_on "$real" "$port" || { tail -n 20 "$real/server.log" >&2 || true; die "could not start PostgreSQL on port $port"; }
  fi
  wait_ready "$port"
  printf 'postgresql://postgres@127.0.0.1:%s/postgres\n' "$port" >"$DIR/url"
}

need_cluster() {   # sets REAL and PORT for the keep/restart commands
  if external; then
    echo "pgcluster: DATABASE_URL points at an external database; '$CMD' is not possible" >&2
    exit "$SKIP_RC"
  fi
  REAL=$(recorded_real)
  { [ -n "$REAL" ] && [ -f "$REAL/data/PG_VERSION" ] && [ -f "$DIR/port" ]; } \
    || die "no fixture cluster in $DIR (run: pgcluster.sh start $DIR)"
  PORT=$(cat "$DIR/port")
  find_bin
}

cmd_start_keep() {
  need_cluster
  if ! is_running "$REAL"; then
    pg_start_on "$REAL" "$PORT" || { tail -n 20 "$REAL/server.log" >&2 || true; die "could not start the cluster on port $PORT"; }
  fi
  wait_ready "$PORT"
}

cmd_stop_keep() {
  need_cluster
  stop_cluster "$REAL" fast
}

cmd_restart() {
  need_cluster
  if is_running "$REAL"; then
    as_pg "$BIN/pg_ctl" -D "$REAL/data" -l "$REAL/server.log" -m fast -w -t 60 -o "-p $PORT" restart \
      >>"$DIR/pg_ctl.log" 2>&1 9>&- \
      || { tail -n 20 "$REAL/server.log" >&2 || true; die "could not restart the cluster on port $PORT"; }
  else
    pg_start_on "$REAL" "$PORT" || { tail -n 20 "$REAL/server.log" >&2 || true; die "could not start the cluster on port $PORT"; }
  fi
  wait_ready "$PORT"
}

cmd_stop() {
  [ -d "$DIR" ] || return 0
  # A cluster we started is always stopped, even if DATABASE_URL is set now.
  if [ -z "$(recorded_real)" ] && { [ -e "$DIR/external" ] || [ -n "${DATABASE_URL:-}" ]; }; then
    return 0
  fi
  local real
  real=$(recorded_real)
  [ -n "$real" ] && stop_cluster "$real" fast
  safe_wipe
}

case "$CMD" in
  ensure)     [ $# -eq 3 ] || die "usage: pgcluster.sh ensure DIR PORT"; cmd_ensure "$3" ;;
  start)      cmd_start ;;
  stop)       cmd_stop ;;
  restart)    cmd_restart ;;
  stop-keep)  cmd_stop_keep ;;
  start-keep) cmd_start_keep ;;
  *) die "unknown command '$CMD' (start|stop|restart|stop-keep|start-keep)" ;;
esac
