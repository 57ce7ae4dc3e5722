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

case $CASE in
  backend-restart) case_backend_restart ;;
  *) fail "unknown case $CASE" ;;
esac
