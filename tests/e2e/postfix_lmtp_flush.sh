#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.postfix_lmtp_flush — a private Postfix instance (postfix -c DIR) with
# sigild as its after-queue content filter over LMTP (docs/postfix.md "Postfix
# after-queue setup", the lmtp-sigil variant), multi-recipient messages, and
# the queue kept by Postfix while sigild is down, released by a flush.
# (e2e.postfix_sandwich covers the SMTP hop, SIGKILL and a crash mid-stream.)
#
#   smtp-source → postfix smtpd :IN → qmgr → lmtp (lmtp-sigil) → sigild :S →
#   postfix smtpd :R (content_filter=) → qmgr → smtp → smtp-sink :SINK
#
# Asserts:
#   1. N messages with 3 recipients each reach the sink exactly once with all
#      3 recipients; each passed through sigild: the set of queue ids in
#      sigild's summary lines ("queued as X", the re-injection smtpd's reply)
#      equals the set of ids in the Received headers the re-injection smtpd
#      added ("from sigil.e2e.test ... id X"), N of each.
#   2. sigild stopped (SIGTERM, exit 0): M more messages are accepted by
#      Postfix and stay queued — `postqueue -j` lists exactly M, each with its
#      3 recipients deferred, the reason naming sigild's port; the sink gets
#      nothing.  Backoff is long (300 s), so only a flush can release them.
#   3. sigild restarted and `postqueue -f`: all M delivered, each exactly once,
#      with its 3 recipients; the queue is empty.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
source "$(dirname "$0")/postfix_lib.sh"

pf_require

take_ports IN R S SINK
PF="$E2E_DIR/pf"
pf_setup "$PF" "$IN" "$R" "\
lmtp-sigil unix -       -       n       -       4       lmtp
  -o lmtp_data_done_timeout=1200
  -o lmtp_send_xforward_command=yes
  -o disable_dns_lookups=yes
  -o max_use=20" "\
relayhost = [127.0.0.1]:$SINK
content_filter = lmtp-sigil:inet:[127.0.0.1]:$S
# Long backoff: only a flush can release deferred mail.
queue_run_delay = 300s
minimal_backoff_time = 300s
maximal_backoff_time = 600s"
pf_start "$PF" "$IN" "$R"
until_true 15 port_open "$IN" || fail "postfix smtpd not listening on $IN"
until_true 15 port_open "$R" || fail "postfix re-injection smtpd not listening on $R"

run_sink sink "$SINK"
sigil_config "$E2E_DIR/sigil.toml" "$S" "smtp:[127.0.0.1]:$R"
run_sigild sigild "$E2E_DIR/sigil.toml" "$S"

# queue_json: postqueue -j output (one JSON object per queued message).
queue_json() { postqueue -c "$PF" -j 2>/dev/null || true; }
queue_count() { queue_json | grep -c '"queue_id"' || true; }
queue_empty() { [ "$(queue_count)" -eq 0 ]; }
# ids_in_received: the ids the re-injection smtpd put in the Received header
# it added for the hop from sigild.
ids_in_received() {
  local f
  for f in "$E2E_DIR"/sink/*; do
    [ -f "$f" ] || continue
    awk '/^$/ { exit }
      /^Received: from sigil\.e2e\.test / { hop = 1; next }
      hop && /^[ \t]/ { if (match($0, /with E?SMTP id [0-9A-Za-z]+/)) { s = substr($0, RSTART, RLENGTH); sub(/.* /, "", s); print s; exit } next }
      { hop = 0 }' "$f"
  done | sort
}
ids_in_summaries() {
  { grep -hoE 'action=relayed backend="250 [0-9.]+ Ok: queued as [0-9A-Za-z]+"' "$E2E_DIR"/sigild*.log || true; } |
    sed -E 's/.*queued as ([0-9A-Za-z]+)"/\1/' | sort
}
# all3 FILE...: every file carries the 3 recipients smtp-source -r 3 made.
rcpt_short=0
check_rcpts() {
  local f
  rcpt_short=0
  for f in "$@"; do
    [ "$(grep -c '^X-Rcpt-Args: <[0-9]*rcpt@example.net>' "$f")" -eq 3 ] || rcpt_short=$((rcpt_short + 1))
  done
}

# ---------------------------------------------------------------- 1. through sigild, exactly once
N=30
"$SMTP_SOURCE" -s 3 -m "$N" -r 3 -f sender@e2e.test -t rcpt@example.net "127.0.0.1:$IN" \
  >"$E2E_DIR/source1.log" 2>&1 || fail "smtp-source into postfix failed: $(cat "$E2E_DIR/source1.log")"
dumps_reach sink "$N" 60 || fail "only $(dumps sink) of $N reached the sink"
until_true 10 queue_empty || fail "postfix queue still holds $(queue_count) messages"
sleep 1
[ "$(dumps sink)" -eq "$N" ] || fail "sink got $(dumps sink) messages, want $N"
[ "$(header_values sink Message-Id | uniq | wc -l)" -eq "$N" ] || fail "distinct Message-Ids != $N"
check_rcpts "$E2E_DIR"/sink/*
[ "$rcpt_short" -eq 0 ] || fail "$rcpt_short messages lost recipients on the way"
[ "$(summaries "$E2E_DIR/sigild.log" 'rcpts=3 .* action=relayed')" -eq "$N" ] ||
  fail "sigild logged $(summaries "$E2E_DIR/sigild.log" 'rcpts=3 .* action=relayed') relayed 3-recipient summaries, want $N"
ids_in_received >"$E2E_DIR/ids.received"
ids_in_summaries >"$E2E_DIR/ids.summaries"
[ "$(wc -l <"$E2E_DIR/ids.received")" -eq "$N" ] ||
  fail "$(wc -l <"$E2E_DIR/ids.received") sink messages show the hop from sigild in Received, want $N"
cmp -s "$E2E_DIR/ids.received" "$E2E_DIR/ids.summaries" ||
  fail "queue ids in sigild's summaries and in the sink's Received headers differ: $(diff "$E2E_DIR/ids.summaries" "$E2E_DIR/ids.received" | head)"
log_has "$PF/maillog" "relay=127\.0\.0\.1\[127\.0\.0\.1\]:$S, .*status=sent \(250 2\.1\.5 [0-9A-Z]{12} <" ||
  fail "maillog shows no per-recipient LMTP delivery to sigild"
log_has "$PF/maillog" "orig_queue_id=" || fail "the re-injection smtpd saw no XFORWARD (orig_queue_id)"
pass "postfix → lmtp → sigild → postfix → sink: $N messages x 3 recipients, once each, ids match"

# ---------------------------------------------------------------- 2. sigild down: queued
kill -TERM "$sigild_PID"
wait_gone "$sigild_PID" 10 || fail "sigild did not exit on SIGTERM"
wait_rc "$sigild_PID"
[ "$WAIT_RC" -eq 0 ] || fail "sigild exited $WAIT_RC on SIGTERM"
M=10
"$SMTP_SOURCE" -s 2 -m "$M" -r 3 -f sender@e2e.test -t rcpt@example.net "127.0.0.1:$IN" \
  >"$E2E_DIR/source2.log" 2>&1 || fail "postfix refused mail while sigild was down: $(cat "$E2E_DIR/source2.log")"
all_deferred() {
  queue_json >"$E2E_DIR/queue.json"
  python3 - "$E2E_DIR/queue.json" "$M" "$S" <<'PY'
import json, sys
path, want, port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
msgs = [json.loads(l) for l in open(path) if l.strip()]
ok = len(msgs) == want and all(
    m["queue_name"] == "deferred" and len(m["recipients"]) == 3 and
    all(port in r.get("delay_reason", "") or "suspended" in r.get("delay_reason", "")
        for r in m["recipients"]) for m in msgs)
sys.exit(0 if ok else 1)
PY
}
until_true 20 all_deferred || fail "want $M deferred messages (3 recipients each, reason naming :$S), postqueue -j says: $(cat "$E2E_DIR/queue.json")"
postqueue -c "$PF" -p >"$E2E_DIR/mailq.txt" 2>&1 || true
grep -qE "in $M Requests?\.$" "$E2E_DIR/mailq.txt" || fail "mailq does not count $M requests: $(tail -n 3 "$E2E_DIR/mailq.txt")"
sleep 2
[ "$(dumps sink)" -eq "$N" ] || fail "messages reached the sink with sigild down"
pass "sigild down: $M messages deferred in Postfix (mailq: $M requests), none delivered"

# ---------------------------------------------------------------- 3. back up, flush
run_sigild sigild2 "$E2E_DIR/sigil.toml" "$S"
sleep 2
[ "$(queue_count)" -eq "$M" ] || fail "the queue changed before the flush ($(queue_count) left): the backoff is too short for this test"
postqueue -c "$PF" -f || fail "postqueue -f failed"
dumps_reach sink $((N + M)) 60 || fail "after the flush only $(( $(dumps sink) - N )) of $M reached the sink"
until_true 15 queue_empty || fail "queue still holds $(queue_count) after the flush"
sleep 1
[ "$(dumps sink)" -eq $((N + M)) ] || fail "sink got $(dumps sink), want $((N + M))"
[ "$(header_values sink Message-Id | uniq | wc -l)" -eq $((N + M)) ] || fail "duplicates or losses after the flush"
check_rcpts "$E2E_DIR"/sink/*
[ "$rcpt_short" -eq 0 ] || fail "$rcpt_short messages lost recipients after the flush"
[ "$(summaries "$E2E_DIR/sigild2.log" 'rcpts=3 .* action=relayed')" -eq "$M" ] ||
  fail "the restarted sigild logged $(summaries "$E2E_DIR/sigild2.log" 'rcpts=3 .* action=relayed') relayed summaries, want $M"
ids_in_received >"$E2E_DIR/ids.received"
ids_in_summaries >"$E2E_DIR/ids.summaries"
cmp -s "$E2E_DIR/ids.received" "$E2E_DIR/ids.summaries" || fail "queue ids differ after the flush"
pass "sigild back + postqueue -f: the $M deferred messages delivered once each, queue empty"
