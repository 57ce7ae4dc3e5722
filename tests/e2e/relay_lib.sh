# tests/e2e/relay_lib.sh — helpers for the smtp-source/smtp-sink/signal e2e
# tests, sourced after lib.sh (which gives E2E_DIR, E2E_PIDS, E2E_CLEANUP,
# the EXIT trap that runs the cleanup hooks and stops every recorded PID, and
# fail/pass).  Everything here is bounded; nothing kills by name.
#
# lib.sh runs with `set -euo pipefail`: every helper below returns 0 unless
# its name says it tests something, and counts never fail on "no match".

[ -n "${E2E_DIR:-}" ] || { echo "relay_lib.sh: source lib.sh first" >&2; exit 1; }

SMTP_SOURCE=${SMTP_SOURCE:-/usr/sbin/smtp-source}
SMTP_SINK=${SMTP_SINK:-/usr/sbin/smtp-sink}
E2E_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# spawn NAME CMD...: CMD in the background, stdout+stderr appended to
# $E2E_DIR/NAME.log, PID in NAME_PID and in E2E_PIDS (stopped by lib.sh's EXIT
# trap).  Same contract as lib.sh's start_bg, kept here so these tests depend
# only on lib.sh's E2E_DIR/E2E_PIDS/E2E_CLEANUP/fail/pass.
spawn() {
  local name=$1
  shift
  "$@" >>"$E2E_DIR/$name.log" 2>&1 &
  local pid=$!
  E2E_PIDS+=("$pid")
  printf -v "${name}_PID" '%s' "$pid"
}

# is_alive PID: true while PID runs (a zombie counts as gone).
is_alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$state" != "Z" ]
}

# wait_gone PID SECONDS: true once PID has exited, false at the deadline.
wait_gone() {
  local pid=$1 limit=$2 i
  for ((i = 0; i < limit * 20; i++)); do
    is_alive "$pid" || return 0
    sleep 0.05
  done
  ! is_alive "$pid"
}

# forget PID: stop PID and drop it from E2E_PIDS, so the EXIT trap never
# signals a reused PID.
forget() {
  local pid=$1 sig=${2:-TERM} keep=() p
  if is_alive "$pid"; then
    kill -s "$sig" "$pid" 2>/dev/null || true
    wait_gone "$pid" 5 || { kill -s KILL "$pid" 2>/dev/null || true; wait_gone "$pid" 2 || true; }
  fi
  wait "$pid" 2>/dev/null || true
  for p in "${E2E_PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  E2E_PIDS=("${keep[@]}")
}

# wait_rc PID: WAIT_RC = exit status of a background child that has exited
# (not in $(...): a subshell cannot wait for its parent's children).
# shellcheck disable=SC2034  # WAIT_RC is read by the sourcing script
wait_rc() {
  WAIT_RC=0
  wait "$1" 2>/dev/null || WAIT_RC=$?
}

# free_ports N: N distinct reserved loopback ports, on one line (ports.py).
free_ports() { python3 "$E2E_PORTS_PY" take "$1" $$; }

# take_ports VAR...: set each VAR to a distinct free port from a pool filled
# by free_ports (one python start instead of one per port).
E2E_PORT_POOL=()
take_ports() {
  local v
  if [ "${#E2E_PORT_POOL[@]}" -lt "$#" ]; then read -r -a E2E_PORT_POOL <<<"$(free_ports 16)"; fi
  for v in "$@"; do
    printf -v "$v" '%s' "${E2E_PORT_POOL[0]}"
    E2E_PORT_POOL=("${E2E_PORT_POOL[@]:1}")
  done
}

# port_open PORT: true if something accepts on 127.0.0.1:PORT (bash's
# /dev/tcp: loopback connects succeed or fail at once; no python start-up,
# which costs half a second on a loaded 2-core machine).
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# until_true SECONDS CMD...: run CMD every 0.1 s until it succeeds; false at
# the deadline.
# at_least N CMD...: CMD prints a number >= N.  For until_true, which must
# re-run the count on each try: `until_true 5 test "$(count)" -ge N` would
# count once, when the line is read, and race what it waits for.
at_least() {
  local n=$1
  shift
  [ "$("$@")" -ge "$n" ]
}

until_true() {
  local limit=$1 i
  shift
  for ((i = 0; i < limit * 10; i++)); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  "$@"
}

# sigil_config FILE PORT TARGET [DRAIN_TIMEOUT]: a minimal sigild config with
# one listener on 127.0.0.1:PORT forwarding to TARGET; checked with
# `sigil check-config` (a refusal fails the test).
sigil_config() {
  local file=$1 port=$2 target=$3 drain=${4:-5}
  cat >"$file" <<EOF
[daemon]
allow_root = true              # the tests run as root (CI)
log_level = "info"
drain_timeout = $drain
spool_dir = "$E2E_DIR"

[smtp]
hostname = "sigil.e2e.test"

[forward]
target = "$target"
connect_timeout = 5
reply_timeout = 30
idle_connection_time = 5

[[listener]]
name = "e2e"
address = "127.0.0.1:$port"
bank = "default"

[bank.default]
stages = []
EOF
  "$SIGIL" check-config "$file" >"$E2E_DIR/check-config.out" 2>&1 ||
    fail "sigil check-config refused $file: $(cat "$E2E_DIR/check-config.out")"
}

# run_sigild NAME CONFIG PORT: start sigild (log $E2E_DIR/NAME.log, PID in
# NAME_PID) and wait until it accepts on PORT; fails the test if it exits.
# "Accepts" means this sigild logged that it listens there: a port that merely
# answers could belong to someone else.
run_sigild() {
  local name=$1 cfg=$2 port=$3
  local log="$E2E_DIR/$name.log" before=0
  [ -f "$log" ] && before=$(wc -l <"$log")
  spawn "$name" "$SIGILD" -c "$cfg"
  local pv="${name}_PID"
  until_true 10 sigild_listening "${!pv}" "$log" "$before" "$port" ||
    fail "$name is not listening on $port"
}
sigild_listening() {
  is_alive "$1" && tail -n "+$(($3 + 1))" "$2" | grep -qF "listening on 127.0.0.1:$4 " && port_open "$4"
}
sigild_up() { is_alive "$1" && port_open "$2"; }

# run_sink NAME PORT [smtp-sink options]: smtp-sink on 127.0.0.1:PORT dumping
# each transaction to a file in $E2E_DIR/NAME/.
run_sink() {
  local name=$1 port=$2
  shift 2
  mkdir -p "$E2E_DIR/$name"
  chmod 0777 "$E2E_DIR/$name"
  local user=()
  if [ "$(id -u)" -eq 0 ]; then user=(-u nobody); fi
  spawn "$name" "$SMTP_SINK" "${user[@]}" -d "$E2E_DIR/$name/msg." "$@" "127.0.0.1:$port" 64
  local pv="${name}_PID"
  until_true 10 sigild_up "${!pv}" "$port" || fail "smtp-sink $name is not listening on $port"
}

# dumps NAME: number of messages the sink NAME captured.
dumps() { find "$E2E_DIR/$1" -maxdepth 1 -type f 2>/dev/null | wc -l; }

# dumps_reach NAME COUNT SECONDS: wait until the sink holds COUNT or more.
dumps_ge() { [ "$(dumps "$1")" -ge "$2" ]; }
dumps_reach() { until_true "$3" dumps_ge "$1" "$2"; }

# header_values NAME HEADER: the first HEADER value of each captured message,
# sorted, one per line.
header_values() {
  local name=$1 hdr=$2 f
  for f in "$E2E_DIR/$name"/*; do
    [ -f "$f" ] || continue
    awk -v h="$hdr" 'BEGIN { h = tolower(h) ":" }
      /^$/ { exit }
      tolower(substr($0, 1, length(h))) == h { sub(/^[^:]*:[ \t]*/, ""); print; exit }' "$f"
  done | sort
}

# summaries LOG [ERE]: number of per-message summary lines (logger "msg") in
# LOG, optionally only those matching ERE.
summaries() {
  local log=$1 pat=${2:-.}
  { grep -E ' msg: id=[0-9A-Z]{12} ' "$log" 2>/dev/null || true; } | { grep -cE -- "$pat" || true; }
}

# log_has LOG ERE: true if LOG has a line matching ERE.
log_has() { grep -qE -- "$2" "$1" 2>/dev/null; }

# smtp_py PORT STEP...: the scripted client (tests/e2e/smtpclient.py).
smtp_py() { python3 "$E2E_HERE/smtpclient.py" "$@"; }

# reply_of OUTFILE STEP: "CODE text" of the last STEP line smtpclient printed.
reply_of() {
  { grep -E "^$2 " "$1" 2>/dev/null || true; } | tail -n 1 | cut -d' ' -f2-
}

# send_msg PORT FILE [WANT_CODE]: FILE through sigild on 127.0.0.1:PORT with
# smtplib (send_msg.py; envelope $SEND_FROM -> $SEND_TO, by default
# sender@example.org -> rcpt@example.net; client timeout $SEND_TIMEOUT s, 120
# unless set).  SEND_REPLY = "CODE text" of the reply to DATA, LAST_ID =
# sigild's 12-character log id in it.  Fails the test if the client fails,
# the code is not WANT_CODE (when given) or the reply has no log id; the
# messages name FILE without directory and extension.
send_msg() {
  local port=$1 file=$2 want=${3:-} name
  name=$(basename "$file")
  name=${name%.*}
  SEND_REPLY=$("${PY:-python3}" "$E2E_HERE/send_msg.py" "$port" "$file" "${SEND_TIMEOUT:-120}" \
    "${SEND_FROM:-sender@example.org}" "${SEND_TO:-rcpt@example.net}" 2>&1) ||
    fail "$name: client failed: $SEND_REPLY"
  [ -z "$want" ] || [ "${SEND_REPLY%% *}" = "$want" ] || fail "$name: got '$SEND_REPLY', want $want"
  # No id in the reply is caught just below (grep exits 1 then).
  LAST_ID=$({ grep -oE '[0-9A-Z]{12}' <<<"$SEND_REPLY" || true; } | head -1)
  [ -n "$LAST_ID" ] || fail "$name: no log id in the reply: $SEND_REPLY"
}

# headers_of FILE: the header section of a message file, one field a line
# (continuation lines unfolded, CRs dropped).
headers_of() {
  awk '/^\r?$/ { exit }
    { sub(/\r$/, "")
      if ($0 ~ /^[ \t]/) { sub(/^[ \t]+/, " "); h = h $0 } else { if (h != "") print h; h = $0 } }
    END { if (h != "") print h }' "$1"
}

# Message lookups shared by the e2e tests that send named messages (their
# Message-ID is <NAME@e2e.test>); summary_of reads sigild's log from $LOG.
# dump_files NAME [DIR]: the captured files of message NAME so far, one a
# line; none yet prints nothing (status 0).
dump_files() {
  grep -l "^Message-ID: <$1@e2e.test>" "${2:-$E2E_DIR/sink}"/* 2>/dev/null || true
}

# dump_of NAME [DIR [SECONDS]]: the captured file of message NAME (waits up
# to SECONDS, default 10).
dump_of() {
  local name=$1 dir=${2:-$E2E_DIR/sink} f=""
  for _ in $(seq $((${3:-10} * 10))); do
    # Not there yet is a normal state while polling; the bound below fails
    # the test.
    f=$(dump_files "$name" "$dir")
    [ -n "$f" ] && break
    sleep 0.1
  done
  [ -n "$f" ] || fail "$name never reached $dir"
  [ "$(printf '%s\n' "$f" | wc -l)" -eq 1 ] || fail "$name arrived more than once: $f"
  printf '%s\n' "$f"
}

# summary_of ID: sigild's summary line for log id ID in $LOG (waits up to 5 s).
summary_of() {
  local line=""
  for _ in $(seq 50); do
    # Polling: no line yet is expected (grep exits 1); the bound fails the test.
    line=$(grep -E " msg: id=$1 " "$LOG" || true)
    [ -n "$line" ] && break
    sleep 0.1
  done
  [ -n "$line" ] || fail "no summary line for id $1"
  printf '%s\n' "$line"
}

# dns_answers PORT NAME: true when the DNS server on 127.0.0.1:PORT answers a
# TXT query for NAME with at least one record (for until_true after starting
# dnsmasq).
dns_answers() {
  python3 - "$1" "$2" <<'PYEOF'
import socket, struct, sys
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
for l in sys.argv[2].encode().split(b"."):
    q += bytes([len(l)]) + l
q += b"\0" + struct.pack(">HH", 16, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
try:
    s.sendto(q, ("127.0.0.1", int(sys.argv[1])))
    r = s.recv(4096)
except OSError:
    sys.exit(1)
sys.exit(0 if struct.unpack(">H", r[6:8])[0] >= 1 else 1)
PYEOF
}

# metric NAME [LABEL=VALUE...]: the series' value on the /metrics endpoint at
# 127.0.0.1:$METRICS_PORT (tests/e2e/scrape.py), "absent" when missing.
metric() {
  local v
  # Exit 1 is "no such series" (printed as absent, checked by the caller).
  v=$(python3 "$E2E_HERE/scrape.py" "$METRICS_PORT" "$@") || v=absent
  printf '%s\n' "$v"
}
# want_metric WANT NAME [LABEL=VALUE...]: the series equals WANT (numerically).
want_metric() {
  local want=$1 got
  shift
  got=$(metric "$@")
  [ "$got" != absent ] && awk -v a="$got" -v b="$want" 'BEGIN { exit !(a + 0 == b + 0) }' ||
    fail "$*: got $got, want $want"
}
