# tests/e2e/lib.sh — shared by the end-to-end tests (sourced).
#
# Every process a test starts is recorded with its PID and stopped in the
# EXIT trap (SIGTERM, then SIGKILL after 5 s); nothing is killed by name.
# Ports are picked free at run time on 127.0.0.1 and reserved (ports.py).  Every wait is bounded.
set -euo pipefail

: "${SIGILD:?SIGILD must point at the sigild binary}"
: "${SIGIL:?SIGIL must point at the sigil binary}"

E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sigil-e2e.XXXXXX")
[ -n "${E2E_KEEP:-}" ] && echo "work dir: $E2E_DIR"
chmod 755 "$E2E_DIR"
E2E_PIDS=()
E2E_CLEANUP=()

e2e_exit() {
  local rc=$?
  cd / || true  # the test may sit in $E2E_DIR, which goes below
  local f
  # Best effort from here on: a peer may already be gone, and the test's own
  # verdict (rc) must not be replaced by a cleanup error.
  for f in "${E2E_CLEANUP[@]}"; do eval "$f" || true; done
  local p
  for p in "${E2E_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${E2E_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  if [ $rc -ne 0 ]; then
    echo "== test failed (rc=$rc); logs:"
    for f in "$E2E_DIR"/*.log "$E2E_DIR"/pf/maillog; do
      [ -f "$f" ] && { echo "--- $f (last 60 lines)"; tail -n 60 "$f"; }
    done
  fi
  [ -n "${E2E_KEEP:-}" ] || rm -rf "$E2E_DIR"
  # Best effort like the rest of the cleanup: a reservation left behind is
  # taken over once this PID is gone (ports.py).
  python3 "$E2E_PORTS_PY" release $$ || true
  exit $rc
}
trap e2e_exit EXIT
# A signal (ctest's timeout, ^C) must still run the EXIT trap that stops the
# peers: turn it into a plain exit.
trap 'exit 143' TERM
trap 'exit 130' INT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# free_port: a loopback TCP port reserved for this test (see ports.py: below
# the ephemeral range, so no outgoing connection takes it meanwhile, and
# reserved so no concurrent test gets it); released in the EXIT trap.
E2E_PORTS_PY="$(dirname "${BASH_SOURCE[0]}")/ports.py"
free_port() { python3 "$E2E_PORTS_PY" take 1 $$; }

# wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT.
wait_port() {
  local port=$1 secs=${2:-10} i
  for i in $(seq $((secs * 10))); do
    if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$port)))" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  fail "nothing listening on port $port after ${secs}s"
}

# wait_for SECONDS 'SHELL CONDITION': until the condition (re-evaluated each
# time) holds; bounded.
wait_for() {
  local secs=$1 i
  shift
  for i in $(seq $((secs * 10))); do
    if eval "$*"; then return 0; fi
    sleep 0.1
  done
  return 1
}

# start_bg NAME CMD...: starts CMD in the background, logs to $E2E_DIR/NAME.log,
# records its PID in E2E_PIDS and in the variable NAME_PID.
start_bg() {
  local name=$1
  shift
  "$@" >"$E2E_DIR/$name.log" 2>&1 &
  local pid=$!
  E2E_PIDS+=("$pid")
  printf -v "${name}_PID" '%s' "$pid"
}

# stop_pid PID [SIGNAL]: signals PID and waits (bounded) for it to exit.
stop_pid() {
  local pid=$1 sig=${2:-TERM} i
  kill -"$sig" "$pid" 2>/dev/null || return 0
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  return 1
}

# start_sink NAME PORT [extra smtp-sink options]: smtp-sink that dumps each
# transaction into $E2E_DIR/NAME/ (one file per message).
start_sink() {
  local name=$1 port=$2
  shift 2
  mkdir -p "$E2E_DIR/$name"
  chmod 777 "$E2E_DIR/$name"
  local user=()
  [ "$(id -u)" -eq 0 ] && user=(-u nobody)
  start_bg "$name" /usr/sbin/smtp-sink "${user[@]}" -d "$E2E_DIR/$name/%H%M%S." "$@" \
    "127.0.0.1:$port" 100
  wait_port "$port"
}

# sink_count NAME: messages the sink has received.
sink_count() { find "$E2E_DIR/$1" -type f | wc -l; }

# write_sigil_config FILE LISTEN_PORT TARGET [extra toml]
write_sigil_config() {
  cat >"$1" <<CONF
[daemon]
allow_root = true              # the tests run as root (CI)
log_level = "info"
drain_timeout = 5
spool_dir = "$E2E_DIR"
[smtp]
hostname = "sigil.e2e.test"
[forward]
target = "$3"
connect_timeout = 5
reply_timeout = 30
[[listener]]
name = "in"
address = "127.0.0.1:$2"
bank = "default"
[bank.default]
stages = []
${4:-}
CONF
  "$SIGIL" check-config "$1" >/dev/null || fail "config $1 refused"
}

# summary_count LOG: per-message summary lines sigild wrote.
# (grep -c prints 0 but exits 1 when nothing matches; the count is what matters.)
summary_count() { grep -c ' msg: id=' "$1" || true; }
