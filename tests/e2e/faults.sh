#!/usr/bin/env bash
# shellcheck disable=SC2154,SC2153  # NAME_PID (spawn) and the ports (take_ports) are set by printf -v
# shellcheck disable=SC2016  # awk programs in single quotes on purpose
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
# docs/operations.md "Reliability".
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
#   scanners         clamd (SIGKILL) and spamd (SIGTERM: its children go
#                    too) stopped while two sigilds scan a load through
#                    them (av + spam), restarted about 1 s later: with
#                    on_error = tempfail the client gets 4xx while they are
#                    down and none once they answer again, nothing is
#                    relayed unscanned; with on_error = continue the client
#                    never sees a 4xx and the messages in the gap pass
#                    unchecked.
#   dns              the DNS server (dnsmasq, the Ed25519 key the load is
#                    signed with by dkimpy) stopped for 2 s under a
#                    verification load (stages = ["dkim-verify"]) and
#                    restarted: messages verified meanwhile get
#                    dkim=temperror and pass (DNS trouble is a verdict, not
#                    a stage error: the client sees 250 throughout), dkim=pass
#                    before and once the server is back (no temperror
#                    cached).
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
  if [ "$delivered" -ne "$sent" ] || [ "$refused" -ne 0 ] || [ "$undelivered" -ne 0 ]; then
    fail "[$CASE] client $name: $LOAD_LINE (want every message delivered)"
  fi
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
  local names dirs=() d
  IFS=, read -ra names <<<"$sink"  # several sinks' dumps counted as one: sink,sinkr
  for d in "${names[@]}"; do dirs+=("$E2E_DIR/$d"); done
  "${LOADMAIL[@]}" check "$(IFS=,; echo "${dirs[*]}")" "$prefix" "$count" "$size" >"$out"
  CHECK_LINE=$(head -n 1 "$out")
  local delivered lost dups truncated
  read -r _ delivered _ lost _ dups _ _ _ truncated <<<"$CHECK_LINE"
  [ "$lost" -eq 0 ] || fail "[$CASE] $lost message(s) lost: $(head -n 20 "$out")"
  [ "$truncated" -eq 0 ] || fail "[$CASE] truncated copies delivered: $(grep '^truncated' "$out")"
  [ "$delivered" -eq "$count" ] || fail "[$CASE] $delivered of $count delivered"
  local id
  while read -r _ id _; do
    awk -v id="$id" '$3 == id && $5 == "451" && $6 == "4.4.2" { f = 1 } END { exit !f }' "$E2E_DIR/$ev.ev" ||
      fail "[$CASE] $id delivered twice although sigild never said its outcome was unknown (451 4.4.2)"
  done < <(grep '^duplicated ' "$out" || true)  # no duplicates: nothing to read (grep exits 1); DUPS is checked by the caller
  DUPS=$dups
}

# figures FAULT: the line for docs/operations.md "Reliability".
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
  # The restarted sink dumps into its own directory: smtp-sink names its files
  # by the clock and gives up ("mail_file_open: something is looping") when a
  # name is taken, which the files already there would make likely.
  run_sink sinkr "$PK"
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
  check_sink sink,sinkr br "$N" load
  figures backend-restart
  pass "back-end killed and restarted under load: $during 4xx while down, none after; $CHECK_LINE"

  # The same with the restart between two bursts: sigild holds cached
  # connections to the old back-end (idle_connection_time 5 s), all dead
  # now; the next burst must not see one of them.
  local N2=400 cached
  cached=$(ss -Htn state established "( dport = :$PK )" | wc -l)
  [ "$cached" -ge 2 ] || fail "[$CASE] sigild caches $cached back-end connection(s), want several"
  forget "$sinkr_PID" KILL
  run_sink sink2 "$PK"  # again a fresh directory (see above)
  t_up=$(now_ms)
  load_bg load2 "$PS" bq "$N2" 8
  load_wait load2 60
  after=$(ev_count load2 '$5 != 250')
  [ "$after" -eq 0 ] || fail "[$CASE] $cached dead cached connections: $after transaction(s) after the restart got no 250: $(
    awk '$5 != 250' "$E2E_DIR/load2.ev" | head -n 5)"
  check_sink sink2 bq "$N2" load2
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
  # Paced (4 ms between a session's messages): the load lasts a few seconds
  # on any machine, so all 20 reloads land inside it.
  load_bg load "$PS" hup "$N" 8 --pace 0.004
  for ((k = 1; k <= HUPS; k++)); do
    # Reload k once k/40 of the load is delivered: the last comes at half of
    # it, so the test's own polling (about 0.1 s a reload) cannot let the
    # load finish first on a fast machine.
    dumps_reach sink $((k * N / (2 * HUPS))) 60 || fail "[$CASE] load stalled at $(dumps sink) before reload $k"
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
    # dd may stop short when the tmpfs is full (exit 1): a filler that is
    # there is what counts, and the next line fails the test without one.
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
  [ "$("${LOADMAIL[@]}" count "$E2E_DIR/sink" big)" -eq 0 ] ||
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

# ---------------------------------------------------------------- scanners
# scanners_setup: clamd (a database of one signature of our own, built with
# sigtool as in av_clamd.sh) on $E2E_DIR/clamd.sock and spamd on $P_SPAMD
# (as in spam_spamd.sh); PIDs in clamd_PID, spamd_PID.
SIG_OWN='SIGIL-FAULTS-TEST-5d1c-not-a-virus'
clamd_start() {
  spawn clamd "$(command -v clamd || echo /usr/sbin/clamd)" -c "$E2E_DIR/clamd.conf"
}
spamd_start() {
  local user=()
  [ "$(id -u)" -ne 0 ] || user=(-u nobody)  # spamd refuses to check mail as root
  spawn spamd "$(command -v spamd || echo /usr/sbin/spamd)" "${user[@]}" -L -x -H "$E2E_DIR/sa-home" \
    --siteconfigpath="$E2E_DIR/sa-site" -i "127.0.0.1:$P_SPAMD" -A 127.0.0.1 \
    -m 2 --min-children=2 --syslog=stderr -r "$E2E_DIR/spamd.pid"
}
clamd_pong() {
  python3 - "$E2E_DIR/clamd.sock" <<'PYEOF' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(1); s.connect(sys.argv[1])
s.sendall(b"zPING\0")
sys.exit(0 if s.recv(64).startswith(b"PONG") else 1)
PYEOF
}
spamd_pong() {
  python3 - "$P_SPAMD" <<'PYEOF' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
s.sendall(b"PING SPAMC/1.5\r\n\r\n")
sys.exit(0 if b"PONG" in s.recv(256) else 1)
PYEOF
}
scanners_setup() {
  command -v clamd >/dev/null || [ -x /usr/sbin/clamd ] || fail "clamd not installed (package clamav-daemon)"
  command -v sigtool >/dev/null || fail "sigtool not installed (package clamav)"
  command -v spamd >/dev/null || [ -x /usr/sbin/spamd ] || fail "spamd not installed (package spamd)"
  mkdir -p "$E2E_DIR/db" "$E2E_DIR/sa-site" "$E2E_DIR/sa-home"
  printf 'Sigil-Faults-Signature:0:*:%s\n' "$(printf '%s' "$SIG_OWN" | sigtool --hex-dump | tr -d '\n')" \
    >"$E2E_DIR/db/sigil.ndb"
  printf '%s\n' "LocalSocket $E2E_DIR/clamd.sock" "DatabaseDirectory $E2E_DIR/db" \
    "TemporaryDirectory $E2E_DIR" "Foreground yes" "LogFile $E2E_DIR/clamd-own.log" >"$E2E_DIR/clamd.conf"
  cp /etc/spamassassin/*.pre "$E2E_DIR/sa-site/" || fail "no /etc/spamassassin/*.pre (package spamassassin)"
  printf 'use_bayes 0\nbayes_auto_learn 0\n' >"$E2E_DIR/sa-site/local.cf"
  [ "$(id -u)" -ne 0 ] || chown nobody "$E2E_DIR/sa-home"
  clamd_start
  spamd_start
  until_true 60 clamd_pong || fail "[$CASE] clamd does not answer"
  until_true 90 spamd_pong || fail "[$CASE] spamd does not answer"
}
# scan_config FILE PORT ON_ERROR: stages av + spam, both scanners, on_error
# for both (tempfail | continue).
scan_config() {
  sigil_config "$1" "$2" "smtp:[127.0.0.1]:$PK"
  sed -i 's/^stages = \[\]$/stages = ["av", "spam"]/' "$1"
  cat >>"$1" <<CONF

[av]
scanners = [ { name = "clamd", address = "unix:$E2E_DIR/clamd.sock", timeout = 30 } ]
on_error = "$3"

[spam]
scanners = [ { name = "spamd", address = "127.0.0.1:$P_SPAMD", timeout = 30 } ]
on_error = "$3"
CONF
  "$SIGIL" check-config "$1" >"$E2E_DIR/check-config.out" 2>&1 || fail "[$CASE] $1: $(cat "$E2E_DIR/check-config.out")"
}
sink_has() { at_least "$2" "${LOADMAIL[@]}" count "$E2E_DIR/sink" "$1"; }

case_scanners() {
  local N=${FAULTS_SCAN_N:-80}
  take_ports PS PC PK P_SPAMD
  scanners_setup
  run_sink sink "$PK"
  scan_config "$E2E_DIR/tf.toml" "$PS" tempfail
  scan_config "$E2E_DIR/cont.toml" "$PC" continue
  run_sigild sigtf "$E2E_DIR/tf.toml" "$PS"
  run_sigild sigcont "$E2E_DIR/cont.toml" "$PC"
  load_bg tf "$PS" sctf "$N" 4 --deadline 240
  load_bg cont "$PC" scco "$N" 4 --deadline 240
  until_true 120 sink_has sctf $((N / 4)) || fail "[$CASE] load did not get going: $(dumps sink) delivered"
  local t_down t_up at_kill
  at_kill=$(dumps sink)
  t_down=$(now_ms)
  forget "$clamd_PID" KILL
  forget "$spamd_PID" TERM
  sleep 1
  clamd_start
  spamd_start
  until_true 60 clamd_pong || fail "[$CASE] clamd did not come back"
  until_true 90 spamd_pong || fail "[$CASE] spamd did not come back"
  t_up=$(now_ms)
  echo "scanners killed after $at_kill deliveries, answering again $((t_up - t_down)) ms later"
  # spamd's scans take tens of ms: with 8 sessions some are cut mid-scan
  # (clamd's take well under 1 ms: its gap shows as refused connections).
  local cut
  cut=$(cat "$E2E_DIR/sigtf.log" "$E2E_DIR/sigcont.log" | grep -cE 'spam="spamd unavailable: spamd: (receive|send|spamd closed)' || true)  # grep -c exits 1 on 0; the count is checked
  [ "$cut" -ge 1 ] || fail "[$CASE] no spamd scan was cut mid-scan by the kill"
  echo "$cut spamd scans cut mid-scan"
  is_alive "$tf_PID" || fail "[$CASE] the tempfail load ended before the scanners were back: test too short"
  load_wait tf 240
  local tf_line=$LOAD_LINE
  load_wait cont 240
  local cont_line=$LOAD_LINE
  # on_error = tempfail: 4xx while they were down, none once back; nothing
  # relayed unscanned.
  local during after
  during=$(ev_count tf "\$5 != 250 && \$2 >= $t_down && \$1 <= $t_up")
  after=$(ev_count tf "\$5 != 250 && \$1 > $t_up")
  [ "$during" -ge 1 ] || fail "[$CASE] tempfail: no 4xx while the scanners were down"
  [ "$(ev_count tf '$5 != 250 && $5 !~ /^4/')" -eq 0 ] ||
    fail "[$CASE] tempfail: other than 250/4xx: $(awk '$5 != 250 && $5 !~ /^4/' "$E2E_DIR/tf.ev" | head -n 3)"
  [ "$after" -eq 0 ] || fail "[$CASE] tempfail: $after 4xx after the scanners were back: $(
    awk "\$5 != 250 && \$1 > $t_up" "$E2E_DIR/tf.ev" | head -n 3)"
  [ "$(summaries "$E2E_DIR/sigtf.log" 'action=relayed .*(unchecked|unavailable)')" -eq 0 ] ||
    fail "[$CASE] tempfail: relayed unscanned: $(grep -E 'action=relayed .*(unchecked|unavailable)' "$E2E_DIR/sigtf.log" | head -n 2)"
  [ "$(summaries "$E2E_DIR/sigtf.log" 'action=relayed')" -eq "$N" ] || fail "[$CASE] tempfail: want $N relayed"
  LOAD_LINE=$tf_line
  check_sink sink sctf "$N" tf
  [ "$DUPS" -eq 0 ] || fail "[$CASE] tempfail: $DUPS duplicate(s)"
  figures scanners-tempfail
  local tf_check=$CHECK_LINE
  # on_error = continue: never a 4xx; the messages scanned while the
  # scanners were down pass unchecked.
  [ "$(ev_count cont '$5 != 250')" -eq 0 ] ||
    fail "[$CASE] continue: the client saw non-250: $(awk '$5 != 250' "$E2E_DIR/cont.ev" | head -n 3)"
  local unchecked
  unchecked=$(summaries "$E2E_DIR/sigcont.log" 'action=relayed .*(unchecked|unavailable)')
  [ "$unchecked" -ge 1 ] || fail "[$CASE] continue: no message passed unchecked (the kill hit nothing)"
  LOAD_LINE=$cont_line
  check_sink sink scco "$N" cont
  [ "$DUPS" -eq 0 ] || fail "[$CASE] continue: $DUPS duplicate(s)"
  figures scanners-continue
  pass "clamd and spamd killed mid-scan, restarted: tempfail: $during 4xx while down, none after, $tf_check; continue: $unchecked passed unchecked, $CHECK_LINE"
}

# ---------------------------------------------------------------- dns
dnsmasq_start() {
  spawn dnsmasq "$(command -v dnsmasq || echo /usr/sbin/dnsmasq)" --keep-in-foreground \
    --conf-file=/dev/null --port="$DNS" --listen-address=127.0.0.1 --bind-interfaces --no-resolv \
    --no-hosts --local=/#/ --local-ttl=0 --user=root --pid-file="$E2E_DIR/dnsmasq.pid" \
    "--txt-record=s1._domainkey.example.com,v=DKIM1; k=ed25519; p=$DKIM_P"
}
dns_up() { dns_answers "$DNS" s1._domainkey.example.com; }

case_dns() {
  local N=${FAULTS_DNS_N:-200} PY=/usr/bin/python3
  "$PY" -c 'import dkim, nacl' 2>/dev/null || fail "$PY cannot import dkim and nacl (packages python3-dkim, python3-nacl)"
  command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || fail "dnsmasq not installed (package dnsmasq-base)"
  source "$E2E_HERE/signing_lib.sh"  # txt_p
  take_ports PS PK DNS
  openssl genpkey -algorithm ED25519 -out "$E2E_DIR/ed.pem" 2>/dev/null || fail "openssl genpkey"
  DKIM_P=$(txt_p "$E2E_DIR/ed.pem")
  dnsmasq_start
  until_true 10 dns_up || fail "[$CASE] dnsmasq does not answer on $DNS"
  run_sink sink "$PK"
  sigil_config "$E2E_DIR/sigil.toml" "$PS" "smtp:[127.0.0.1]:$PK"
  sed -i 's/^stages = \[\]$/stages = ["dkim-verify"]/' "$E2E_DIR/sigil.toml"
  cat >>"$E2E_DIR/sigil.toml" <<CONF

[dns]
servers = ["127.0.0.1:$DNS"]
timeout_ms = 300
attempts = 2

[dkim_verify]
authserv_id = "mx.e2e.test"
CONF
  "$SIGIL" check-config "$E2E_DIR/sigil.toml" >"$E2E_DIR/check-config.out" 2>&1 ||
    fail "[$CASE] config: $(cat "$E2E_DIR/check-config.out")"
  run_sigild sigild "$E2E_DIR/sigil.toml" "$PS"
  LOADMAIL=("$PY" "$E2E_HERE/loadmail.py")
  load_bg load "$PS" dns "$N" 4 --dkim "$E2E_DIR/ed.pem:example.com:s1" --pace 0.02 --deadline 240
  until_true 120 sink_has dns $((N / 4)) || fail "[$CASE] load did not get going: $(dumps sink) delivered"
  local t_down t_up
  t_down=$(now_ms)
  forget "$dnsmasq_PID" TERM
  sleep 2
  dnsmasq_start
  until_true 10 dns_up || fail "[$CASE] dnsmasq did not come back"
  t_up=$(now_ms)
  is_alive "$load_PID" || fail "[$CASE] the load ended before DNS was back: test too short"
  load_wait load 240
  [ "$(ev_count load '$5 != 250')" -eq 0 ] ||
    fail "[$CASE] DNS trouble cost non-250 replies: $(awk '$5 != 250' "$E2E_DIR/load.ev" | head -n 3)"
  check_sink sink dns "$N" load
  [ "$DUPS" -eq 0 ] || fail "[$CASE] $DUPS duplicate(s)"
  # Each copy's verdict, beside the start of its (only) attempt.
  "${LOADMAIL[@]}" results "$E2E_DIR/sink" dns 'dkim=[a-z]+' >"$E2E_DIR/results"
  awk 'NR == FNR { start[$3] = $1; next } { print start[$1], $1, $2 }' "$E2E_DIR/load.ev" "$E2E_DIR/results" \
    >"$E2E_DIR/verdicts"
  local temp pass other late early
  temp=$(awk '$3 == "dkim=temperror"' "$E2E_DIR/verdicts" | wc -l)
  pass=$(awk '$3 == "dkim=pass"' "$E2E_DIR/verdicts" | wc -l)
  other=$(awk '$3 != "dkim=pass" && $3 != "dkim=temperror"' "$E2E_DIR/verdicts")
  late=$(awk -v t="$t_up" '$1 > t && $3 != "dkim=pass"' "$E2E_DIR/verdicts")
  early=$(awk -v t="$t_down" '$1 < t - 1000 && $3 != "dkim=pass"' "$E2E_DIR/verdicts")
  [ -z "$other" ] || fail "[$CASE] verdicts other than pass/temperror: $(head -n 3 <<<"$other")"
  [ "$temp" -ge 1 ] || fail "[$CASE] no dkim=temperror while DNS was down (cached, or the outage hit nothing)"
  [ -z "$early" ] || fail "[$CASE] not pass before DNS went down: $(head -n 3 <<<"$early")"
  [ -z "$late" ] || fail "[$CASE] not pass after DNS was back: $(head -n 3 <<<"$late")"
  [ "$(summaries "$E2E_DIR/sigild.log" 'dkim_verify="temperror')" -eq "$temp" ] ||
    fail "[$CASE] summary lines do not count $temp temperror verdicts"
  echo "DNS down $((t_up - t_down)) ms: $temp dkim=temperror, $pass dkim=pass"
  figures dns
  pass "DNS server stopped and restarted under verification load: $temp temperror while down, pass before and after, every reply 250; $CHECK_LINE"
}

case $CASE in
  backend-restart) case_backend_restart ;;
  dns) case_dns ;;
  scanners) case_scanners ;;
  sighup) case_sighup ;;
  spool-full) case_spool_full ;;
  *) fail "unknown case $CASE" ;;
esac
