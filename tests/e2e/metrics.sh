#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.metrics — the Prometheus endpoint ([metrics] address, docs/metrics.md)
# of a running sigild, scraped over HTTP after known traffic.
#
# Asserts:
#   1. With no [metrics] section sigild listens on its listener's port only.
#   2. With [metrics] address on a free loopback port: GET /metrics answers
#      200; before any traffic no message is counted, no reload either, and
#      sigil_config_last_reload_timestamp_seconds is the start time.
#   3. Three messages relayed and one refused for its size (smtp.
#      max_message_size) through listener "e2e": sigil_messages_total
#      {listener="e2e",bank="default",action="relayed"} = 3, {listener="e2e",
#      bank="",action="refused"} = 1 (no bank chosen yet, as in its summary), and sigil_received_bytes_total{listener="e2e"} = the sum of the
#      size= of the four summary lines; the bank's dkim-verify and dkim-sign
#      ran 3 times each: sigil_stage_outcomes_total{stage,outcome="pass"} = 3,
#      sigil_stage_duration_seconds_count = 3,
#      sigil_dkim_signatures_total{key="ex-ed",algorithm="ed25519-sha256"} = 3,
#      sigil_dkim_verify_results_total{result="none"} = 3 (unsigned mail).
#   4. A good SIGHUP and a broken one: sigil_config_reloads_total
#      {result="success"} = 1, {result="failure"} = 1, the timestamp moved to
#      the good reload; a reload that changes metrics.address logs that it
#      takes effect on restart and the old endpoint keeps serving.
#      The back-end: sigil_backend_replies_total{class="2xx"} = 3, one
#      connection kept (sigil_backend_idle_connections = 1), no connect
#      failure, sigil_spool_bytes = 0.
#   5. Two idle connections: sigil_sessions_open{listener="e2e"} = 2; a third
#      is refused (smtp.max_sessions = 2, 421 4.3.2):
#      sigil_session_refusals_total{reason="max_sessions"} = 1; once they
#      quit, sigil_sessions_open = 0.
#   6. A message stopped half way through DATA, 8017 bytes in
#      (memory_threshold 4096): sigil_spool_bytes is over 4096 and at most
#      8017, and 0 once it is done.  A reload to a [forward] target nobody
#      listens on: the old back-end's idle connection is closed
#      (sigil_backend_idle_connections = 0), a message gets 451 and
#      sigil_backend_connect_failures_total = 1, the 2xx count stays 3.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

# listens PID PORT: process PID listens on TCP port PORT (ss -ltnp).
listens() { ss -ltnpH "sport = :$2" | grep -q "pid=$1,"; }

take_ports PS PSINK PM PM2 PDEAD
METRICS_PORT=$PM  # metric, want_metric (relay_lib.sh)
run_sink sink "$PSINK"
CFG="$E2E_DIR/sigil.toml"
sigil_config "$CFG" "$PS" "smtp:[127.0.0.1]:$PSINK"
sed -i 's/^hostname = "sigil.e2e.test"$/&\nmax_message_size = 12000\nmax_sessions = 2/' "$CFG"
# Spool a message beyond 4 KiB (sigil_spool_bytes, part 6).
sed -i 's/^spool_dir = .*$/&\nmemory_threshold = 4096/' "$CFG"
grep -q '^memory_threshold = 4096$' "$CFG" || fail "could not set memory_threshold"
grep -q '^max_sessions = 2$' "$CFG" || fail "could not set max_message_size and max_sessions"
# dkim-verify (the messages carry no signature: result none, no DNS) then
# dkim-sign with one Ed25519 key for example.com (smtpclient's From).
mkdir -m 700 "$E2E_DIR/keys"
"$SIGIL" keys generate --selector ed2026 --domain example.com --type ed25519 \
  --out "$E2E_DIR/keys/ed.pem" >"$E2E_DIR/ed.record" 2>"$E2E_DIR/keygen.err" ||
  fail "sigil keys generate: $(cat "$E2E_DIR/keygen.err")"
sed -i 's/^stages = \[\]$/stages = ["dkim-verify", "dkim-sign"]\noriginating = true/' "$CFG"
grep -q '^originating = true$' "$CFG" || fail "could not set the bank's stages"
cat >>"$CFG" <<EOF

[[key]]
name = "ex-ed"
file = "$E2E_DIR/keys/ed.pem"
domain = "example.com"
selector = "ed2026"

[[signing]]
match = ["example.com"]
keys = ["ex-ed"]
EOF

# ---------------------------------------------------------------- 1. off
run_sigild plain "$CFG" "$PS"
# grep -c exits 1 when it counts 0; the count is checked just below.
n=$({ ss -ltnpH | grep -c "pid=$plain_PID,"; } || true)
[ "$n" -eq 1 ] || fail "with no [metrics] sigild listens on $n sockets: $(ss -ltnpH | grep "pid=$plain_PID,")"
! log_has "$E2E_DIR/plain.log" 'metrics: serving' || fail "metrics endpoint started with no [metrics]"
stop_pid "$plain_PID"
wait_gone "$plain_PID" 10 || fail "sigild (no metrics) did not stop"
pass "no [metrics]: nothing but the listener listens"

# ---------------------------------------------------------------- 2. on
printf '\n[metrics]\naddress = "127.0.0.1:%s"\n' "$PM" >>"$CFG"
"$SIGIL" check-config "$CFG" >"$E2E_DIR/check.out" 2>&1 || fail "check-config: $(cat "$E2E_DIR/check.out")"
t_start=$(date +%s)
run_sigild sigild "$CFG" "$PS"
LOG="$E2E_DIR/sigild.log"
listens "$sigild_PID" "$PM" || fail "sigild does not listen on the metrics port $PM"
log_has "$LOG" "metrics: serving /metrics on 127.0.0.1:$PM" || fail "no 'metrics: serving' log line"
code=$(curl -s -o "$E2E_DIR/first.txt" -w '%{http_code}' "http://127.0.0.1:$PM/metrics")
[ "$code" = 200 ] || fail "GET /metrics: HTTP $code"
grep -q '^# TYPE sigil_config_reloads_total counter$' "$E2E_DIR/first.txt" || fail "no sigil_config_reloads_total family"
[ "$(metric sigil_messages_total listener=e2e bank=default action=relayed)" = absent ] ||
  fail "a message counted before any traffic"
want_metric 0 sigil_config_reloads_total result=success
want_metric 0 sigil_config_reloads_total result=failure
ts=$(metric sigil_config_last_reload_timestamp_seconds)
awk -v t="$ts" -v s="$t_start" 'BEGIN { exit !(t + 0 >= s && t + 0 <= s + 15) }' ||
  fail "last reload timestamp $ts is not the start time ($t_start)"
pass "GET /metrics answers; nothing counted yet; timestamp = start"

# ---------------------------------------------------------------- 3. traffic
for i in 1 2 3; do
  smtp_py "$PS" greet ehlo front.example msg a@example.com b@example.net "metrics-$i" quit \
    >"$E2E_DIR/c$i.out" 2>&1 || fail "client $i failed: $(cat "$E2E_DIR/c$i.out")"
  [[ "$(reply_of "$E2E_DIR/c$i.out" msg)" =~ ^250\  ]] || fail "message $i: $(cat "$E2E_DIR/c$i.out")"
done
# Too big, sent without SIZE= so it is refused after DATA (one summary line).
python3 - "$PS" >"$E2E_DIR/big.out" 2>&1 <<'PY' || fail "big message client: $(cat "$E2E_DIR/big.out")"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.ehlo("front.example")
s.mail("a@example.com")
s.rcpt("b@example.net")
code, _ = s.data(b"Subject: big\r\n\r\n" + (b"y" * 70 + b"\r\n") * 200)
print(code)
s.quit()
PY
[ "$(tail -n 1 "$E2E_DIR/big.out")" = 552 ] || fail "big message not refused with 552: $(cat "$E2E_DIR/big.out")"
until_true 5 test "$(summary_count "$LOG")" -ge 4 || fail "want 4 summary lines, got $(summary_count "$LOG")"
[ "$(grep -c ' msg: id=.* action=relayed ' "$LOG")" -eq 3 ] || fail "want 3 relayed summaries"
[ "$(grep -c ' msg: id=.* action=refused ' "$LOG")" -eq 1 ] || fail "want 1 refused summary"
bytes=$(grep ' msg: id=' "$LOG" | grep -oE ' size=[0-9]+' | awk -F= '{ s += $2 } END { print s }')
[ "$bytes" -gt 14000 ] || fail "summed size= $bytes: the big message is not in it"
want_metric 3 sigil_messages_total listener=e2e bank=default action=relayed
# Refused before a bank was chosen: bank="" as on its summary line.
grep -q ' msg: id=.* bank="" .*action=refused ' "$LOG" || fail "the refused summary has a bank"
want_metric 1 sigil_messages_total listener=e2e bank= action=refused
want_metric 0 sigil_messages_total listener=e2e bank=default action=tempfail
want_metric "$bytes" sigil_received_bytes_total listener=e2e
# The refused message ran no stage: three runs of each, three signatures.
[ "$(grep -c ' msg: id=.* dkim="signed .*a=ed25519-sha256' "$LOG")" -eq 3 ] ||
  fail "want 3 signed summaries: $(grep ' msg: id=' "$LOG")"
want_metric 3 sigil_stage_outcomes_total stage=dkim-sign outcome=pass
want_metric 0 sigil_stage_outcomes_total stage=dkim-sign outcome=error
want_metric 3 sigil_stage_outcomes_total stage=dkim-verify outcome=pass
want_metric 3 sigil_stage_duration_seconds_count stage=dkim-sign
want_metric 3 sigil_stage_duration_seconds_count stage=dkim-verify
want_metric 3 sigil_dkim_signatures_total key=ex-ed algorithm=ed25519-sha256
want_metric 3 sigil_dkim_verify_results_total result=none
want_metric 0 sigil_dkim_verify_results_total result=pass
# The back-end's final 250 for each; one connection, reused, kept.
want_metric 3 sigil_backend_replies_total class=2xx
want_metric 0 sigil_backend_replies_total class=4xx
want_metric 0 sigil_backend_connect_failures_total
want_metric 1 sigil_backend_idle_connections
want_metric 0 sigil_spool_bytes
pass "3 relayed, 1 refused, $bytes bytes: counted by listener, bank and action"

# ---------------------------------------------------------------- 4. reloads
cp "$CFG" "$E2E_DIR/good.toml"
sleep 1  # the timestamp must move by a whole second at least
t_reload=$(date +%s)
kill -HUP "$sigild_PID"
until_true 10 log_has "$LOG" 'configuration reloaded from' || fail "no 'configuration reloaded'"
printf 'no_such_key = 1\n' >>"$CFG"
kill -HUP "$sigild_PID"
until_true 10 log_has "$LOG" 'reload refused' || fail "no 'reload refused' for a broken config"
want_metric 1 sigil_config_reloads_total result=success
want_metric 1 sigil_config_reloads_total result=failure
ts=$(metric sigil_config_last_reload_timestamp_seconds)
awk -v t="$ts" -v s="$t_reload" 'BEGIN { exit !(t + 0 >= s && t + 0 <= s + 10) }' ||
  fail "last reload timestamp $ts is not the good reload's ($t_reload)"
sed "s/127.0.0.1:$PM\"/127.0.0.1:$PM2\"/" "$E2E_DIR/good.toml" >"$CFG"
kill -HUP "$sigild_PID"
until_true 10 log_has "$LOG" "metrics.address 127.0.0.1:$PM -> 127.0.0.1:$PM2 takes effect only on restart" ||
  fail "no warning for a changed metrics.address"
want_metric 2 sigil_config_reloads_total result=success
! port_open "$PM2" || fail "a reload bound the new metrics address (documented: only on restart)"
pass "reloads: 1 good, 1 refused counted; timestamp moved; address change waits for a restart"

# ---------------------------------------------------------------- 5. sessions
want_metric 0 sigil_sessions_open listener=e2e
want_metric 0 sigil_session_refusals_total reason=max_sessions
for i in 1 2; do
  spawn "idle$i" python3 "$E2E_HERE/smtpclient.py" "$PS" greet touch "$E2E_DIR/idle$i.ready" \
    waitfile "$E2E_DIR/idle.go" 30 quit
  until_true 10 test -f "$E2E_DIR/idle$i.ready" || fail "idle client $i did not connect"
done
want_metric 2 sigil_sessions_open listener=e2e
smtp_py "$PS" greet >"$E2E_DIR/third.out" 2>&1 || true  # refused: its reply is checked next
[[ "$(reply_of "$E2E_DIR/third.out" greet)" =~ ^421\ 4\.3\.2 ]] ||
  fail "third connection over max_sessions: $(cat "$E2E_DIR/third.out")"
want_metric 1 sigil_session_refusals_total reason=max_sessions
want_metric 0 sigil_session_refusals_total reason=max_sessions_per_client
touch "$E2E_DIR/idle.go"
wait_gone "$idle1_PID" 10 && wait_gone "$idle2_PID" 10 || fail "idle clients did not quit"
until_true 5 test "$(metric sigil_sessions_open listener=e2e)" = 0 ||
  fail "sigil_sessions_open after the clients quit: $(metric sigil_sessions_open listener=e2e)"
pass "sessions open per listener; a refusal at max_sessions counted"

# ---------------------------------------------------------------- 6. spool, back-end down
cat >"$E2E_DIR/half.py" <<'PY'
import os, smtplib, sys, time
port, ready, go = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
s.ehlo("front.example")
s.mail("a@example.com")
s.rcpt("b@example.net")
code, _ = s.docmd("DATA")
assert code == 354, code
s.send(b"Subject: half\r\n\r\n" + (b"z" * 98 + b"\r\n") * 80)  # 8017 bytes
open(ready, "w").close()
for _ in range(300):
    if os.path.exists(go):
        break
    time.sleep(0.1)
s.send(b".\r\n")
print(s.getreply()[0])
s.quit()
PY
spawn half python3 "$E2E_DIR/half.py" "$PS" "$E2E_DIR/half.ready" "$E2E_DIR/half.go"
until_true 10 test -f "$E2E_DIR/half.ready" || fail "the half-way client did not send its data"
spooled_over() { awk -v v="$(metric sigil_spool_bytes)" 'BEGIN { exit !(v + 0 > 4096) }'; }
until_true 5 spooled_over || fail "sigil_spool_bytes mid-DATA: $(metric sigil_spool_bytes), want > 4096"
v=$(metric sigil_spool_bytes)
awk -v v="$v" 'BEGIN { exit !(v + 0 <= 8017) }' || fail "sigil_spool_bytes $v: more than the message"
touch "$E2E_DIR/half.go"
wait_gone "$half_PID" 10 || fail "the half-way client did not finish"
until_true 5 test "$(metric sigil_spool_bytes)" = 0 || fail "sigil_spool_bytes after the message: $(metric sigil_spool_bytes)"
want_metric 4 sigil_backend_replies_total class=2xx
pass "spool: $v bytes spooled mid-DATA, 0 once delivered"

sed "s/smtp:\[127.0.0.1\]:$PSINK\"/smtp:[127.0.0.1]:$PDEAD\"/" "$E2E_DIR/good.toml" >"$CFG"
grep -q "127.0.0.1\]:$PDEAD\"" "$CFG" || fail "could not point [forward] at the closed port"
kill -HUP "$sigild_PID"
until_true 10 test "$(metric sigil_config_reloads_total result=success)" = 3 ||
  fail "the reload to the closed back-end port was not counted: $(metric sigil_config_reloads_total result=success)"
until_true 5 test "$(metric sigil_backend_idle_connections)" = 0 ||
  fail "the replaced back-end's idle connection: $(metric sigil_backend_idle_connections)"
smtp_py "$PS" greet ehlo front.example msg a@example.com b@example.net "metrics-down" quit \
  >"$E2E_DIR/down.out" 2>&1 || true  # refused: its reply is checked next
[[ "$(reply_of "$E2E_DIR/down.out" msg)" =~ ^451\  ]] || fail "message to a closed back-end: $(cat "$E2E_DIR/down.out")"
want_metric 1 sigil_backend_connect_failures_total
want_metric 4 sigil_backend_replies_total class=2xx
want_metric 0 sigil_backend_replies_total class=4xx
want_metric 1 sigil_messages_total listener=e2e bank=default action=tempfail
pass "back-end down: a connect failure counted, no reply counted, the old idle connection gone"
