# bench/lib.sh — helpers shared by bench/run and bench/sign (sourced, not run).
#
# Process control (every process started is stopped by PID in the EXIT trap),
# free loopback ports, bounded waits, /proc figures, arithmetic, the build,
# smtp-sink, sigild from a template, and one bounded loadgen run.
#
# The sourcing script sets, before calling the functions that use them:
#   ROOT BUILD JOBS DO_BUILD KEEP  LOADGEN LG_TIMEOUT JSONL  SMTP_SINK
#   SIGIL SIGILD SIGILD_ENV LOG_LEVEL WORK  (and MODE_FILE for start_sigild)
# shellcheck shell=bash

LOG_TAG=${LOG_TAG:-bench}
log() { printf '[%s %s] %s\n' "$LOG_TAG" "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ------------------------------------------------------------ process control
ANOMALIES=()   # lines for the report's "Anomalies" section
PIDS=()
WORK=
CLEANUP_HOOKS=()   # commands run first by cleanup (e.g. stopping a daemon tree)
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local p h
  for h in "${CLEANUP_HOOKS[@]}"; do eval "$h" || true; done
  for p in "${PIDS[@]}"; do stop_pid "$p"; done
  if [[ -n $WORK && -d $WORK ]]; then
    if ((${KEEP:-0})); then log "work directory kept: $WORK"; else rm -rf -- "$WORK"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# True while PID is a live (not zombie) process.
alive() {
  [[ -r /proc/$1/stat ]] || return 1
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n $st && $st != Z ]]
}

# Stops one process we started: TERM, up to 5 s, then KILL; reaps it.
stop_pid() {
  local pid=$1 i
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
      log "pid $pid ignored SIGTERM for 5 s; killing"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

USED_PORTS=" "
# free_port VAR: a loopback TCP port nobody listens on or uses, into VAR.
free_port() {
  local i p
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    [[ $USED_PORTS == *" $p "* ]] && continue
    if [[ -z $(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null) ]]; then
      USED_PORTS+="$p "
      printf -v "$1" '%s' "$p"
      return 0
    fi
  done
  die "no free loopback port found"
}

# wait_listen PORT PID [TENTHS]: until something listens on PORT (default at
# most 10 s) while PID lives.
wait_listen() {
  local i n=$((${3:-100} * 2))
  for ((i = 0; i < n; i++)); do
    [[ -n $(ss -Htln "( sport = :$1 )" 2>/dev/null) ]] && return 0
    alive "$2" || return 1
    sleep 0.05
  done
  return 1
}

# wait_unix PATH PID [SECONDS]: until PATH is a socket (a listener's Unix
# socket), while PID lives; default 100 s.
wait_unix() {
  local i n=$((${3:-100} * 20))
  for ((i = 0; i < n; i++)); do
    [[ -S $1 ]] && return 0
    alive "$2" || return 1
    sleep 0.05
  done
  return 1
}

# CPU time (utime+stime, clock ticks) of a process.
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# Minor page faults of a process (a heap that shrinks and regrows per message shows here).
min_flt() { awk '{ sub(/.*\) /, ""); print $8 }' "/proc/$1/stat"; }
# A /proc/PID/status field in kB (VmRSS, VmHWM).
vm_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
CLK_TCK=$(getconf CLK_TCK)

# tree_pids PID: PID and all its live descendants, one per line.
tree_pids() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { kids[$2] = kids[$2] " " $1 }
    END { n = 1; q[1] = root; for (i = 1; i <= n; i++) { print q[i]; m = split(kids[q[i]], k, " "); for (j = 1; j <= m; j++) q[++n] = k[j] } }'
}
# tree_cpu_ticks PID: CPU of a process tree that forks and reaps workers:
# utime+stime+cutime+cstime of every live process in it.  A worker that
# exited and was reaped is in its parent's cutime/cstime, so the difference
# of two readings is the CPU the whole tree used in between.
tree_cpu_ticks() {
  local p sum=0 t
  for p in $(tree_pids "$1"); do
    t=$(awk '{ sub(/.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$p/stat" 2>/dev/null) || continue
    [[ -n $t ]] && sum=$((sum + t))
  done
  echo "$sum"
}
# tree_rss_kb PID: VmRSS summed over a process tree (shared pages count once per process).
tree_rss_kb() {
  local p sum=0 r
  for p in $(tree_pids "$1"); do
    r=$(vm_kb "$p" VmRSS 2>/dev/null) || continue
    [[ -n $r ]] && sum=$((sum + r))
  done
  echo "$sum"
}

# calc EXPR [DECIMALS]: floating-point arithmetic; "-" when EXPR divides by zero.
calc() { awk "BEGIN { d = ${2:-1}; x = 0; ok = 1; $1; if (!ok) print \"-\"; else printf \"%.\" d \"f\", x }"; }
# ms per message from a tick delta.
ms_per_msg() { calc "if ($2 > 0) x = $1 * 1000 / $CLK_TCK / $2; else ok = 0" 3; }
# jget JSON KEY: one value of a flat JSON line (loadgen's, sign-micro's).
jget() { sed -n 's/.*"'"$2"'":"\{0,1\}\([^",}]*\).*/\1/p' <<<"$1"; }
mb() { calc "x = $1 / 1024" 1; }

# ------------------------------------------------------------ build
# bench_build TARGET...: Release build into $BUILD (skipped unless DO_BUILD).
bench_build() {
  ((DO_BUILD)) || return 0
  log "building Release in $BUILD (-j$JOBS): $*"
  local clog="${TMPDIR:-/tmp}/sigil-bench-cmake.$$.log"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSIGIL_TESTS=OFF \
    >"$clog" 2>&1 || { cat "$clog" >&2; rm -f "$clog"; die "cmake configure failed"; }
  rm -f "$clog"
  cmake --build "$BUILD" -j "$JOBS" --target "$@" >&2 || die "build failed"
}

# ------------------------------------------------------------ smtp-sink
# start_sink VAR_PORT VAR_PID [DUMP_FILE]: smtp-sink on a free loopback port
# (-u nobody as root, -m 2000 sessions, backlog 1000); with DUMP_FILE it
# writes every message there (-D; the directory must be writable by nobody).
SINK_ARGS=(-m 2000 -t 60)
((EUID == 0)) && SINK_ARGS+=(-u nobody)
start_sink() {
  local port pid args=("${SINK_ARGS[@]}")
  free_port port
  [[ -n ${3:-} ]] && args+=(-D "$3")
  "$SMTP_SINK" "${args[@]}" "127.0.0.1:$port" 1000 >>"$WORK/smtp-sink.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_listen "$port" "$pid" || { cat "$WORK/smtp-sink.log" >&2; die "smtp-sink did not start"; }
  printf -v "$1" '%s' "$port"
  printf -v "$2" '%s' "$pid"
}

# ------------------------------------------------------------ sigild
SIGILD_PID=
SIGIL_PORT=
SIGIL_UNIX=   # set: the template's listener is this Unix socket (mode_subst fills it in)
SIGILD_LOGS=()
mode_subst() { :; }
# start_sigild NAME [MAX_MESSAGE_SIZE] [TEMPLATE] [SINK_PORT]: a fresh daemon
# (so VmHWM is this phase's) from TEMPLATE (default $MODE_FILE), forwarding
# to SINK_PORT (default $SINK_PORT), checked first with `sigil check-config`.
start_sigild() {
  local name=$1 max=${2:-52428800} tmpl=${3:-$MODE_FILE} sport=${4:-$SINK_PORT}
  [[ -n $SIGILD_PID ]] && stop_pid "$SIGILD_PID"
  SIGILD_PID=
  free_port SIGIL_PORT
  local cfg=$WORK/$name.toml
  [[ -n $SIGIL_UNIX ]] && rm -f -- "$SIGIL_UNIX"
  sed -e "s|@LISTEN_PORT@|$SIGIL_PORT|g" -e "s|@SINK_PORT@|$sport|g" \
      -e "s|@SPOOL_DIR@|$WORK/spool|g" -e "s|@WORK@|$WORK|g" \
      -e "s|@LOG_LEVEL@|$LOG_LEVEL|g" -e "s|@MAX_MESSAGE_SIZE@|$max|g" \
      -e "s|@MEMORY_THRESHOLD@|262144|g" -e "$(mode_subst)" "$tmpl" >"$cfg"
  grep -q '@[A-Z_0-9]*@' "$cfg" && die "unfilled placeholder in $cfg: $(grep -o '@[A-Z_0-9]*@' "$cfg" | head -1)"
  "$SIGIL" check-config "$cfg" >"$WORK/$name.check" 2>&1 ||
    { cat "$WORK/$name.check" >&2; die "sigil check-config refused $cfg"; }
  # shellcheck disable=SC2086  # SIGILD_ENV is a list of NAME=VALUE words
  env $SIGILD_ENV "$SIGILD" -c "$cfg" 2>"$WORK/sigild-$name.log" &
  SIGILD_PID=$!
  PIDS+=("$SIGILD_PID")
  SIGILD_LOGS+=("$WORK/sigild-$name.log")
  if [[ -n $SIGIL_UNIX ]]; then
    wait_unix "$SIGIL_UNIX" "$SIGILD_PID" ||
      { tail -20 "$WORK/sigild-$name.log" >&2; die "sigild ($name) did not start"; }
  else
    wait_listen "$SIGIL_PORT" "$SIGILD_PID" ||
      { tail -20 "$WORK/sigild-$name.log" >&2; die "sigild ($name) did not start"; }
  fi
  log "sigild ($name, $(basename "$tmpl" .toml)) pid $SIGILD_PID on ${SIGIL_UNIX:-127.0.0.1:$SIGIL_PORT}"
}

# sigild_complaints: one ANOMALIES line per distinct warning or error text that
# sigild logged (timestamps dropped), with the number of logs it appeared in.
sigild_complaints() {
  ((${#SIGILD_LOGS[@]})) || return 0
  local line
  while IFS= read -r line; do
    [[ -n $line ]] && ANOMALIES+=("sigild logged: $line")
  done < <(grep -HE ' (warning|error|critical) ' "${SIGILD_LOGS[@]}" 2>/dev/null |
    awk '{ f = $0; sub(/:.*/, "", f); t = substr($0, length(f) + 2); sub(/^[^ ]* /, "", t); t = substr(t, 1, 300)
           if (!(t in n)) order[++k] = t; n[t]++; if (!((t, f) in seen)) { seen[t, f] = 1; logs[t]++; if (!(t in name)) name[t] = f } }
         END { for (i = 1; i <= k; i++) { t = order[i]; sub(/.*\//, "", name[t])
               printf "%s (%d line(s) in %d log(s), e.g. %s)\n", t, n[t], logs[t], name[t] } }')
}

# ------------------------------------------------------------ load
# lg LABEL PORT ARGS...: one bounded loadgen run; the JSON line lands in $J.
J=
lg() {
  local label=$1 port=$2 out
  shift 2
  out=$(timeout -k 5 $((LG_TIMEOUT + 30)) "$LOADGEN" --label "$label" --port "$port" \
          --timeout "$LG_TIMEOUT" "$@" 2>&1) || true
  printf '%s\n' "$out" | grep -v '^{' >&2 || true
  J=$(printf '%s\n' "$out" | grep '^{' | tail -1) || true
  [[ -n $J ]] || die "loadgen ($label) printed no result: $out"
  printf '%s\n' "$J" >>"$JSONL"
  if [[ $(jget "$J" n2xx) != "$(jget "$J" messages)" ]]; then
    log "WARNING: $label: $(jget "$J" n2xx) of $(jget "$J" messages) messages got 2xx; first error: $(jget "$J" first_error)"
    ANOMALIES+=("$label: $(jget "$J" n2xx)/$(jget "$J" messages) got 2xx (4xx $(jget "$J" n4xx), 5xx $(jget "$J" n5xx), io $(jget "$J" io_errors)); first error: $(jget "$J" first_error)")
  fi
}

# machine_facts: the report header's machine lines (Markdown list items).
machine_facts() {
  local cpu_model mem_total commit dirty
  cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  mem_total=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
  commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  dirty=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -c . || true)
  echo "- machine: $(nproc) CPUs, $cpu_model, $mem_total, Linux $(uname -r)"
  echo "- tree: $commit$( ((dirty > 0)) && echo " + $dirty uncommitted change(s)"), Release build in \`$(basename "$BUILD")\`"
}

# ------------------------------------------------------------ keys
# gen_key rsa|ed25519 FILE: a new private key (PEM PKCS#8, RSA 2048 bits,
# mode 0600) unless FILE exists, and its public key in FILE.pub.
gen_key() {
  local kind=$1 f=$2
  mkdir -p "$(dirname "$f")"
  chmod 700 "$(dirname "$f")"
  if [[ ! -s $f ]]; then
    case $kind in
      rsa) (umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$f" 2>/dev/null) ;;
      ed25519) (umask 077 && openssl genpkey -algorithm ED25519 -out "$f" 2>/dev/null) ;;
      *) die "gen_key: unknown key type $kind" ;;
    esac || die "openssl genpkey ($kind) failed"
  fi
  chmod 600 "$f"
  openssl pkey -in "$f" -pubout -out "$f.pub" 2>/dev/null || die "openssl pkey -pubout ($f) failed"
}
