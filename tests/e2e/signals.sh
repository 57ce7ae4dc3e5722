#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.signals — SIGHUP reload and SIGTERM drain of a running sigild, with
# real smtp-sink back-ends and a scripted client (smtpclient.py).
#
# Asserts:
#   1. SIGHUP with a valid changed config (forward target A → B): a session
#      opened before the reload survives it (NOOP and a second transaction
#      work on the same connection); the transaction before the reload went
#      to A, the one after it to B, new connections go to B; "configuration
#      reloaded" is logged.
#   2. SIGHUP with a broken config: "reload refused, keeping the running
#      configuration" with file:line:key; sigild keeps running and still
#      delivers to B.  A reload that changes a listener address warns and
#      keeps the old listener.
#   3. SIGTERM with an idle session: the client gets 421 4.3.2 and EOF; sigild
#      exits 0 without waiting for daemon.drain_timeout ("all sessions
#      closed"), well within drain_timeout + margin.
#   4. SIGTERM while a transaction waits for a slow back-end (smtp-sink -w:
#      3 s before answering DATA): new connections are refused at once, the
#      transaction completes with the back-end's real reply (250, message in
#      the sink), then sigild exits 0.
#   5. SIGTERM with a client stalled inside a transaction (after RCPT):
#      sigild waits for it, then cuts it off at daemon.drain_timeout ("drain
#      timeout: cutting 1 session(s) off"), exits within drain_timeout +
#      margin, and delivers nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

CLIENT=("python3" "$E2E_HERE/smtpclient.py")
now_ms() { date +%s%3N; }
# gone_within PID SECONDS: true if PID exits within SECONDS.
gone_within() { wait_gone "$1" "$2"; }

take_ports PS PA PB PX
run_sink sinkA "$PA"
run_sink sinkB "$PB"
CFG="$E2E_DIR/sigil.toml"
sigil_config "$CFG" "$PS" "smtp:[127.0.0.1]:$PA" 4
run_sigild sigild "$CFG" "$PS"
LOG="$E2E_DIR/sigild.log"

# ---------------------------------------------------------------- 1. valid reload
spawn client1 "${CLIENT[@]}" "$PS" greet ehlo front.example \
  msg a@example.com b@example.net before-reload touch "$E2E_DIR/c1.sent" \
  waitfile "$E2E_DIR/c1.go" 20 cmd NOOP msg a@example.com b@example.net after-reload quit
until_true 15 test -f "$E2E_DIR/c1.sent" || fail "client 1 did not send its first message"
sigil_config "$CFG" "$PS" "smtp:[127.0.0.1]:$PB" 4
kill -HUP "$sigild_PID"
until_true 10 log_has "$LOG" 'configuration reloaded from' || fail "no 'configuration reloaded' after SIGHUP"
touch "$E2E_DIR/c1.go"
gone_within "$client1_PID" 20 || fail "client 1 did not finish"
wait_rc "$client1_PID"
[ "$WAIT_RC" -eq 0 ] || fail "client 1 failed: $(cat "$E2E_DIR/client1.log")"
out="$E2E_DIR/client1.log"
n250=$({ grep -cE '^msg 250 2\.0\.0 ' "$out" || true; })
[ "$n250" -eq 2 ] || fail "session across the reload: want two 250s, got: $(cat "$out")"
[[ "$(reply_of "$out" cmd)" =~ ^250\  ]] || fail "NOOP after the reload: $(reply_of "$out" cmd)"
dumps_reach sinkB 1 5 || fail "nothing reached the new target B after the reload"
grep -q '^Subject: before-reload$' "$E2E_DIR"/sinkA/* 2>/dev/null || fail "the pre-reload message is not in A"
grep -q '^Subject: after-reload$' "$E2E_DIR"/sinkB/* 2>/dev/null || fail "the post-reload message (same session) is not in B"
{ [ "$(dumps sinkA)" -eq 1 ] && [ "$(dumps sinkB)" -eq 1 ]; } ||
  fail "want 1 message in A and 1 in B, got $(dumps sinkA) and $(dumps sinkB)"
smtp_py "$PS" greet ehlo front.example msg a@example.com b@example.net new-conn quit >"$E2E_DIR/c2.out" 2>&1 ||
  fail "client 2 failed: $(cat "$E2E_DIR/c2.out")"
dumps_reach sinkB 2 5 || fail "a new connection after the reload did not reach B"
grep -q '^Subject: new-conn$' "$E2E_DIR"/sinkB/* || fail "new-conn message not in B"
[ "$(dumps sinkA)" -eq 1 ] || fail "A got a message after the reload"
pass "SIGHUP: open session kept; next transaction and new connections go to the new target"

# ---------------------------------------------------------------- 2. broken reload
cp "$CFG" "$E2E_DIR/good.toml"
sed -i 's/^connect_timeout = 5$/connect_timeout = 5\nno_such_key = 1/' "$CFG"
grep -q '^no_such_key' "$CFG" || fail "could not break the config"
if "$SIGIL" check-config "$CFG" >"$E2E_DIR/broken-check.out" 2>&1; then
  fail "sigil check-config accepted the broken config"
fi
kill -HUP "$sigild_PID"
until_true 10 log_has "$LOG" 'reload refused, keeping the running configuration' ||
  fail "no 'reload refused' after SIGHUP with a broken config"
log_has "$LOG" "sigil\.toml:[0-9]+.*no_such_key" || fail "the refusal does not name file:line:key"
is_alive "$sigild_PID" || fail "sigild died on a broken reload"
smtp_py "$PS" greet ehlo front.example msg a@example.com b@example.net after-broken quit >"$E2E_DIR/c3.out" 2>&1 ||
  fail "client 3 failed: $(cat "$E2E_DIR/c3.out")"
[[ "$(reply_of "$E2E_DIR/c3.out" msg)" =~ ^250\  ]] || fail "after a broken reload: $(reply_of "$E2E_DIR/c3.out" msg)"
dumps_reach sinkB 3 5 || fail "after a broken reload the old config (target B) does not serve"
grep -q '^Subject: after-broken$' "$E2E_DIR"/sinkB/* || fail "after-broken message not in B"
[ "$(dumps sinkA)" -eq 1 ] || fail "A got a message after the broken reload"
# A listener address change is refused for that part, with a warning.
sed "s/127.0.0.1:$PS\"/127.0.0.1:$PX\"/" "$E2E_DIR/good.toml" >"$CFG"
kill -HUP "$sigild_PID"
until_true 10 log_has "$LOG" 'listener addresses changed' || fail "no warning for a changed listener address"
port_open "$PS" || fail "the old listener stopped after a reload that changed its address"
! port_open "$PX" || fail "a reload bound the new listener address (documented: only on restart)"
cp "$E2E_DIR/good.toml" "$CFG"
pass "SIGHUP with a broken config: refused with file:line:key, old config serves"

# ---------------------------------------------------------------- 3. SIGTERM, idle session
spawn client4 "${CLIENT[@]}" "$PS" greet ehlo front.example touch "$E2E_DIR/c4.ready" read 15 read 5
until_true 15 test -f "$E2E_DIR/c4.ready" || fail "client 4 did not get going"
t0=$(now_ms)
kill -TERM "$sigild_PID"
gone_within "$sigild_PID" 6 || fail "sigild still running 6 s after SIGTERM (drain_timeout 4) with only an idle session"
t1=$(now_ms)
wait_rc "$sigild_PID"
[ "$WAIT_RC" -eq 0 ] || fail "sigild exited $WAIT_RC after SIGTERM"
gone_within "$client4_PID" 10 || fail "client 4 still waiting"
out="$E2E_DIR/client4.log"
grep -qE '^read 421 4\.3\.2 ' "$out" || fail "idle session did not get 421 4.3.2: $(cat "$out")"
grep -qE '^read (EOF|ERROR)' "$out" || fail "idle session not closed after the 421: $(cat "$out")"
log_has "$LOG" 'all sessions closed; exiting' || fail "no 'all sessions closed' in the log"
! log_has "$LOG" 'drain timeout' || fail "an idle session held the drain until drain_timeout"
pass "SIGTERM with an idle session: 421 4.3.2, exit 0 after $((t1 - t0)) ms"

# ---------------------------------------------------------------- 4. SIGTERM, slow back-end
take_ports PS2 PSLOW
run_sink sinkSlow "$PSLOW" -w 3
sigil_config "$E2E_DIR/slow.toml" "$PS2" "smtp:[127.0.0.1]:$PSLOW" 10
run_sigild sigild2 "$E2E_DIR/slow.toml" "$PS2"
spawn client5 "${CLIENT[@]}" "$PS2" greet ehlo front.example mail a@example.com rcpt b@example.net \
  data dot slow-backend touch "$E2E_DIR/c5.dot" reply read 5
until_true 15 test -f "$E2E_DIR/c5.dot" || fail "client 5 did not send its data"
sleep 0.5  # sigild is now waiting for the slow back-end
is_alive "$client5_PID" || fail "client 5 finished before the SIGTERM: $(cat "$E2E_DIR/client5.log")"
t0=$(now_ms)
kill -TERM "$sigild2_PID"
until_true 2 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$PS2) 2>/dev/null" ||
  fail "sigild still accepts new connections while draining"
is_alive "$sigild2_PID" || fail "sigild exited with a transaction in flight"
gone_within "$sigild2_PID" 12 || fail "sigild did not exit after the in-flight transaction"
t1=$(now_ms)
wait_rc "$sigild2_PID"
[ "$WAIT_RC" -eq 0 ] || fail "sigild exited $WAIT_RC"
gone_within "$client5_PID" 10 || fail "client 5 still waiting"
out="$E2E_DIR/client5.log"
grep -qE '^reply 250 2\.0\.0 [0-9A-Z]{12} ' "$out" || fail "in-flight transaction did not get its 250: $(cat "$out")"
grep -qE '^read (421|EOF|ERROR)' "$out" || fail "session not closed after its transaction: $(cat "$out")"
dumps_reach sinkSlow 1 3 || fail "the in-flight message is not in the sink"
grep -q '^Subject: slow-backend$' "$E2E_DIR"/sinkSlow/* || fail "wrong message in the slow sink"
[ "$(summaries "$E2E_DIR/sigild2.log" 'action=relayed')" -eq 1 ] || fail "no relayed summary line"
! log_has "$E2E_DIR/sigild2.log" 'drain timeout' || fail "the drain hit its timeout"
pass "SIGTERM during a slow back-end transaction: real 250, then exit after $((t1 - t0)) ms"

# ---------------------------------------------------------------- 5. SIGTERM, stalled client
take_ports PS3
sigil_config "$E2E_DIR/stall.toml" "$PS3" "smtp:[127.0.0.1]:$PB" 3
run_sigild sigild3 "$E2E_DIR/stall.toml" "$PS3"
before=$(dumps sinkB)
spawn client6 "${CLIENT[@]}" "$PS3" greet ehlo front.example mail a@example.com rcpt b@example.net \
  touch "$E2E_DIR/c6.ready" read 15
until_true 15 test -f "$E2E_DIR/c6.ready" || fail "client 6 did not get going"
t0=$(now_ms)
kill -TERM "$sigild3_PID"
sleep 1.5
is_alive "$sigild3_PID" || fail "sigild cut a session inside a transaction before drain_timeout (3 s)"
gone_within "$sigild3_PID" 4 || fail "sigild still running $(( ($(now_ms) - t0) / 1000 )) s after SIGTERM (drain_timeout 3)"
t1=$(now_ms)
wait_rc "$sigild3_PID"
[ "$WAIT_RC" -eq 0 ] || fail "sigild exited $WAIT_RC after the drain timeout"
[ $((t1 - t0)) -ge 2500 ] || fail "sigild exited after $((t1 - t0)) ms, before drain_timeout (3 s)"
log_has "$E2E_DIR/sigild3.log" 'drain timeout: cutting 1 session' || fail "no 'drain timeout: cutting 1 session' line"
gone_within "$client6_PID" 10 || fail "client 6 still waiting"
grep -qE '^read (4[0-9][0-9]|EOF|ERROR)' "$E2E_DIR/client6.log" || fail "stalled client: $(cat "$E2E_DIR/client6.log")"
[ "$(dumps sinkB)" -eq "$before" ] || fail "a cut-off transaction delivered something"
pass "SIGTERM with a stalled transaction: cut off at drain_timeout, exit after $((t1 - t0)) ms"
