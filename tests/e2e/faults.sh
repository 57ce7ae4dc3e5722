#!/usr/bin/env bash
# shellcheck disable=SC2154,SC2153  # NAME_PID (spawn) and the ports (take_ports) are set by printf -v
# e2e.faults_* — faults under load, with real peers: the fault given as the
# argument, one ctest per fault:
#
#   bash tests/e2e/faults.sh backend-restart|sighup|spool-full|scanners|dns
#
# Every case sends numbered messages (tests/e2e/loadmail.py: Message-ID
# <PREFIX-k@load.e2e.test>, a body ending in "END PREFIX-k") over several
# concurrent sessions; a message answered 4xx, or whose connection broke
# before its final reply, is sent again after 0.3 s, as an MTA's queue
# would.  At the end the smtp-sink dump is counted by Message-ID: a copy
# counts when it holds the whole body the client sent; every case ends with
# every message delivered, 0 lost and 0 duplicated (a duplicate is allowed
# only for a message whose back-end died between taking the data and
# answering the dot, the one case SMTP cannot tell apart, RFC 1047: sigild
# says 451 4.4.2 there; the figure is printed).  The figures go into
# README "Reliability".
#
#   backend-restart  the back-end (smtp-sink) killed (SIGKILL) mid-load and
#                    restarted on the same port about 1 s later: the client
#                    sees 4xx only while it is down, none for a transaction
#                    started after it is back (cached connections to the
#                    dead back-end are not reused); then restarted again
#                    between two bursts, while sigild holds several cached
#                    connections to it: the next burst sees no 4xx at all.
#   sighup           20 SIGHUPs (each a real change) while 8 sessions send
#                    5,000 messages: every reply 250, 20 reloads logged.
#   spool-full       the spool (daemon.spool_dir, memory_threshold 4096) on
#                    a 2 MiB tmpfs in sigild's own mount namespace, filled
#                    to 512 KiB free (RLIMIT_FSIZE where mounting is not
#                    allowed): a 1 MB message gets 451 4.3.0 and nothing
#                    reaches the sink, 200 messages of 20 KB pass meanwhile;
#                    once the space is back the same message is delivered
#                    once, whole.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

CASE=${1:?usage: faults.sh backend-restart|sighup|spool-full|scanners|dns}
LOADMAIL=(python3 "$E2E_HERE/loadmail.py")
now_ms() { date +%s%3N; }

# load_bg NAME PORT PREFIX COUNT SESSIONS [loadmail options]: loadmail.py in
# the background (log $E2E_DIR/NAME.log, attempts in $E2E_DIR/NAME.ev).
load_bg() {
  local name=$1 port=$2 prefix=$3 count=$4 sessions=$5
  shift 5
  spawn "$name" "${LOADMAIL[@]}" send "$port" "$prefix" "$count" "$sessions" \
    --events "$E2E_DIR/$name.ev" "$@"
}

# load_wait NAME SECONDS: waits for loadmail NAME; fails unless it delivered
# every message (none refused, none left).  LOAD_LINE = its figures.
load_wait() {
  local name=$1 secs=$2 pv="${1}_PID"
  wait_gone "${!pv}" "$secs" || fail "[$CASE] client $name still sending after ${secs}s"
  wait_rc "${!pv}"
  [ "$WAIT_RC" -eq 0 ] || fail "[$CASE] client $name failed: $(cat "$E2E_DIR/$name.log")"
  LOAD_LINE=$(tail -n 1 "$E2E_DIR/$name.log")
  local sent delivered refused undelivered
  read -r _ sent _ delivered _ refused _ undelivered _ <<<"$LOAD_LINE"
  [ "$delivered" -eq "$sent" ] && [ "$refused" -eq 0 ] && [ "$undelivered" -eq 0 ] ||
    fail "[$CASE] client $name: $LOAD_LINE (want every message delivered)"
}

# ev_count NAME AWK_CONDITION: attempts in NAME.ev matching the condition
# ($1 start ms, $2 end ms, $3 id, $4 attempt, $5 code, $6... text).
ev_count() { awk "$2 { n++ } END { print n + 0 }" "$E2E_DIR/$1.ev"; }

# check_sink SINK PREFIX COUNT EVENTS [SIZE]: counts the sink's copies by
# Message-ID; fails on a loss, a truncated copy, or a duplicate of a message
# never answered 451 4.4.2 (outcome unknown after the dot).  CHECK_LINE =
# the figures, DUPS = duplicates.
check_sink() {
  local sink=$1 prefix=$2 count=$3 ev=$4 size=${5:-600} out="$E2E_DIR/check-$1-$2.out"
  "${LOADMAIL[@]}" check "$E2E_DIR/$sink" "$prefix" "$count" "$size" >"$out"
  CHECK_LINE=$(head -n 1 "$out")
  local delivered lost dups partial truncated
  read -r _ delivered _ lost _ dups _ partial _ truncated <<<"$CHECK_LINE"
  [ "$lost" -eq 0 ] || fail "[$CASE] $lost message(s) lost: $(head -n 20 "$out")"
  [ "$truncated" -eq 0 ] || fail "[$CASE] truncated copies delivered: $(grep '^truncated' "$out")"
  [ "$delivered" -eq "$count" ] || fail "[$CASE] $delivered of $count delivered"
  local id
  while read -r _ id _; do
    awk -v id="$id" '$3 == id && $5 == "451" && $6 == "4.4.2" { f = 1 } END { exit !f }' "$E2E_DIR/$ev.ev" ||
      fail "[$CASE] $id delivered twice although sigild never said its outcome was unknown (451 4.4.2)"
  done < <(grep '^duplicated ' "$out" || true)  # no duplicates: nothing to read
  DUPS=$dups
}

# figures FAULT: the line for README "Reliability".
figures() {
  local sent attempts tempfails errors
  read -r _ sent _ _ _ _ _ _ _ attempts _ tempfails _ errors <<<"$LOAD_LINE"
  echo "FIGURES $1: messages $sent, attempts $attempts, 4xx $tempfails, broken $errors; sink: $CHECK_LINE"
}

# ---------------------------------------------------------------- backend-restart
case_backend_restart() {
  local N=2000
  take_ports PS PK
  run_sink sink "$PK"
  sigil_config "$E2E_DIR/sigil.toml" "$PS" "smtp:[127.0.0.1]:$PK"
  run_sigild sigild "$E2E_DIR/sigil.toml" "$PS"
  load_bg load "$PS" br "$N" 8
  dumps_reach sink $((N / 4)) 60 || fail "[$CASE] load did not get going: $(dumps sink) delivered"
  local t_down t_up
  t_down=$(now_ms)
  forget "$sink_PID" KILL
  local at_kill
  at_kill=$(dumps sink)
  sleep 1
  run_sink sink "$PK"
  t_up=$(now_ms)
  load_wait load 120
  echo "killed at $at_kill of $N messages; down $((t_up - t_down)) ms"
  local during after
  during=$(ev_count load "\$5 != 250 && \$2 >= $t_down && \$1 <= $t_up")
  after=$(ev_count load "\$5 != 250 && \$1 > $t_up")
  [ "$during" -ge 1 ] || fail "[$CASE] no transaction saw the back-end down (the kill hit nothing)"
  [ "$after" -eq 0 ] || fail "[$CASE] $after transaction(s) started after the back-end was back got no 250: $(
    awk "\$5 != 250 && \$1 > $t_up" "$E2E_DIR/load.ev" | head -n 5)"
  [ "$(ev_count load '$5 != 250 && $5 !~ /^4/')" -eq 0 ] ||
    fail "[$CASE] the client saw other than 250/4xx: $(awk '$5 != 250 && $5 !~ /^4/' "$E2E_DIR/load.ev" | head -n 5)"
  check_sink sink br "$N" load
  figures backend-restart
  pass "back-end killed and restarted under load: $during 4xx while down, none after; $CHECK_LINE"

  # The same with the restart between two bursts: sigild holds cached
  # connections to the old back-end (idle_connection_time 5 s), all dead
  # now; the next burst must not see one of them.
  local N2=400 cached
  cached=$(ss -Htn state established "( dport = :$PK )" | wc -l)
  [ "$cached" -ge 2 ] || fail "[$CASE] sigild caches $cached back-end connection(s), want several"
  forget "$sink_PID" KILL
  run_sink sink "$PK"
  t_up=$(now_ms)
  load_bg load2 "$PS" bq "$N2" 8
  load_wait load2 60
  after=$(ev_count load2 '$5 != 250')
  [ "$after" -eq 0 ] || fail "[$CASE] $cached dead cached connections: $after transaction(s) after the restart got no 250: $(
    awk '$5 != 250' "$E2E_DIR/load2.ev" | head -n 5)"
  check_sink sink bq "$N2" load2
  LOAD_LINE=$(tail -n 1 "$E2E_DIR/load2.log")
  figures backend-restart-idle
  pass "back-end restarted while $cached cached connections idled: no 4xx after; $CHECK_LINE"
}

# ---------------------------------------------------------------- sighup
case_sighup() {
  local N=${FAULTS_SIGHUP_N:-5000} HUPS=20 k
  take_ports PS PK
  run_sink sink "$PK"
  sigil_config "$E2E_DIR/sigil.toml" "$PS" "smtp:[127.0.0.1]:$PK"
  run_sigild sigild "$E2E_DIR/sigil.toml" "$PS"
  local log="$E2E_DIR/sigild.log" t0
  t0=$(now_ms)
  load_bg load "$PS" hup "$N" 8
  for ((k = 1; k <= HUPS; k++)); do
    dumps_reach sink $((k * N / (HUPS + 2))) 60 || fail "[$CASE] load stalled at $(dumps sink) before reload $k"
    is_alive "$load_PID" || fail "[$CASE] the load ended before reload $k"
    # Each reload changes the configuration for real (idle time 5 s / 6 s).
    sed -i "s/^idle_connection_time = .*/idle_connection_time = $((5 + k % 2))/" "$E2E_DIR/sigil.toml"
    kill -HUP "$sigild_PID"
    until_true 10 at_least "$k" grep -c 'configuration reloaded from' "$log" ||
      fail "[$CASE] reload $k not logged"
  done
  is_alive "$load_PID" || fail "[$CASE] the load ended before the last reload (the reloads did not overlap it)"
  load_wait load 300
  echo "$N messages, $HUPS reloads in $(($(now_ms) - t0)) ms"
  [ "$(grep -c 'configuration reloaded from' "$log")" -eq "$HUPS" ] || fail "[$CASE] want $HUPS reloads logged"
  ! log_has "$log" 'reload refused' || fail "[$CASE] a reload was refused: $(grep 'reload refused' "$log")"
  [ "$(ev_count load '$5 != 250')" -eq 0 ] ||
    fail "[$CASE] the reloads cost $(ev_count load '$5 != 250') non-250 replies: $(awk '$5 != 250' "$E2E_DIR/load.ev" | head -n 5)"
  check_sink sink hup "$N" load
  [ "$DUPS" -eq 0 ] || fail "[$CASE] $DUPS duplicate(s)"
  figures sighup
  pass "SIGHUP x $HUPS while 8 sessions sent $N messages: every reply 250; $CHECK_LINE"
}

# ---------------------------------------------------------------- spool-full
# spool_setup DIR: runs sigild (config $E2E_DIR/spool.toml, listener $PS)
# with a spool of SPOOL_KB KiB: a tmpfs of that size in sigild's own mount
# namespace when the test may mount one, else the spool on disk and
# RLIMIT_FSIZE at that size.  SPOOL_HOW says which; spool_fill/spool_free
# take the space and give it back.
SPOOL_KB=2048
spool_setup() {
  SPOOL=$E2E_DIR/spool
  mkdir -p "$SPOOL"
  sed -i "s|^spool_dir = .*|spool_dir = \"$SPOOL\"\nmemory_threshold = 4096|" "$E2E_DIR/spool.toml"
  "$SIGIL" check-config "$E2E_DIR/spool.toml" >/dev/null || fail "[$CASE] spool config refused"
  if [ -z "${FAULTS_NO_TMPFS:-}" ] && unshare -m --propagation private \
    sh -c "mount -t tmpfs -o size=${SPOOL_KB}k tmpfs '$SPOOL'" 2>/dev/null; then
    SPOOL_HOW=tmpfs
    spawn sigild unshare -m --propagation private sh -c \
      "mount -t tmpfs -o size=${SPOOL_KB}k,mode=0700 tmpfs '$SPOOL' && exec '$SIGILD' -c '$E2E_DIR/spool.toml'"
  else
    SPOOL_HOW=rlimit
    spawn sigild prlimit --fsize=$((SPOOL_KB * 1024)): "$SIGILD" -c "$E2E_DIR/spool.toml"
  fi
  until_true 10 sigild_listening "$sigild_PID" "$E2E_DIR/sigild.log" 0 "$PS" ||
    fail "[$CASE] sigild ($SPOOL_HOW spool) is not listening on $PS"
}
# spool_fill KB: leaves about KB KiB of the spool free (tmpfs: a filler file
# seen through /proc/PID/root; rlimit: the limit itself).
spool_fill() {
  if [ "$SPOOL_HOW" = tmpfs ]; then
    local root="/proc/$sigild_PID/root$SPOOL"
    dd if=/dev/zero of="$root/filler" bs=1k count=$((SPOOL_KB - $1)) status=none 2>/dev/null || true
    [ -s "$root/filler" ] || fail "[$CASE] cannot fill the spool tmpfs"
  else
    prlimit --pid "$sigild_PID" --fsize=$(($1 * 1024)): || fail "[$CASE] prlimit refused"
  fi
}
spool_free() {
  if [ "$SPOOL_HOW" = tmpfs ]; then rm -f "/proc/$sigild_PID/root$SPOOL/filler"
  else prlimit --pid "$sigild_PID" --fsize=unlimited: || fail "[$CASE] prlimit refused"; fi
}

case_spool_full() {
  take_ports PS PK
  run_sink sink "$PK"
  sigil_config "$E2E_DIR/spool.toml" "$PS" "smtp:[127.0.0.1]:$PK"
  spool_setup
  echo "spool: $SPOOL_HOW, ${SPOOL_KB} KiB"
  spool_fill 512
  # A message bigger than what is left: 451, nothing delivered, not even cut.
  "${LOADMAIL[@]}" send "$PS" big 1 1 --size 1000000 --once 1 --events "$E2E_DIR/big1.ev" >"$E2E_DIR/big1.log" ||
    fail "[$CASE] client failed: $(cat "$E2E_DIR/big1.log")"
  grep -qE ' big-1 1 451 4\.3\.0 ' "$E2E_DIR/big1.ev" ||
    fail "[$CASE] 1 MB into 512 KB of spool: got '$(cat "$E2E_DIR/big1.ev")', want 451 4.3.0"
  is_alive "$sigild_PID" || fail "[$CASE] sigild died when the spool filled up"
  log_has "$E2E_DIR/sigild.log" 'spool write failed' || fail "[$CASE] no 'spool write failed' logged"
  # Smaller ones still pass meanwhile (8 sessions, 20 KB each, spooled).
  load_bg small "$PS" small 200 8 --size 20000
  load_wait small 120
  LOAD_LINE_SMALL=$LOAD_LINE
  [ "$(ev_count small '$5 != 250')" -eq 0 ] || fail "[$CASE] small messages refused: $(awk '$5 != 250' "$E2E_DIR/small.ev" | head -n 3)"
  check_sink sink small 200 small 20000
  local small_check=$CHECK_LINE
  [ -z "$("${LOADMAIL[@]}" check "$E2E_DIR/sink" big 1 1000000 | grep -v '^delivered 0 ' | grep -v '^lost big-1$')" ] ||
    fail "[$CASE] something of the refused big message reached the sink"
  # Space back: the same message passes, whole, once.
  spool_free
  "${LOADMAIL[@]}" send "$PS" big 1 1 --size 1000000 --once 1 --events "$E2E_DIR/big2.ev" >"$E2E_DIR/big2.log" ||
    fail "[$CASE] client failed: $(cat "$E2E_DIR/big2.log")"
  grep -qE ' big-1 1 250 ' "$E2E_DIR/big2.ev" || fail "[$CASE] after the space came back: $(cat "$E2E_DIR/big2.ev")"
  LOAD_LINE=$(tail -n 1 "$E2E_DIR/big2.log")
  check_sink sink big 1 big2 1000000
  [ "$DUPS" -eq 0 ] || fail "[$CASE] the big message was delivered twice"
  [ -z "$(ls -A "/proc/$sigild_PID/root$SPOOL" 2>/dev/null)" ] || [ "$SPOOL_HOW" != tmpfs ] ||
    fail "[$CASE] spool files left behind: $(ls -A "/proc/$sigild_PID/root$SPOOL")"
  echo "FIGURES spool-full: big 1 MB: 451 with 512 KB free, 250 after; small: $LOAD_LINE_SMALL; sink: $small_check"
  pass "spool out of space ($SPOOL_HOW): 451 4.3.0 and nothing delivered; 200 smaller ones passed; after: delivered once, whole"
}

case $CASE in
  backend-restart) case_backend_restart ;;
  sighup) case_sighup ;;
  spool-full) case_spool_full ;;
  *) fail "unknown case $CASE" ;;
esac
