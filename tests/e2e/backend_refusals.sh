#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.backend_refusals — recipients the back-end refuses for good while the
# others get the message (docs/operations.md "Replies and the two-phase commit"): over
# SMTP the client hears one 250, so Sigil sends the sender a DSN for them.
# The back-end is tests/e2e/fake_backend.py (smtp-sink cannot refuse one
# recipient of several); e2e.postfix_refusals does the same with a real
# Postfix.
#
# Peers: fake back-ends "plain" (SMTP, refuses unknown@ at RCPT with 550
# 5.1.1), "nobounce" (the same, and refuses MAIL FROM:<> with 550 5.7.1),
# "lmtp" (LMTP, accepts every RCPT, refuses full@ after the data with 552
# 5.2.2), "ascii" (no SMTPUTF8); one sigild per back-end, the one before
# "ascii" bouncing bad-header (decode stage).
#
# Asserts:
#   1. three recipients, unknown@ refused at RCPT: the client gets 250 "Ok for
#      2 of 3 recipients, DSN sent for 1"; the back-end holds the message for
#      the two others and a DSN from <> to the sender (multipart/report,
#      Final-Recipient unknown@, Status 5.1.1, Remote-MTA, Diagnostic-Code
#      quoting the 550); the summary says action=partial and names unknown@
#      as bounced with the back-end's reply;
#      the same through a proxy listener (before-queue); its /metrics then
#      counts 2 DSNs sent, back-end replies 2xx = 4 (2 messages, 2 DSNs) and
#      5xx = 2 (the RCPT refusals);
#   2. the same through a back-end that refuses the DSN: the client gets 451
#      4.3.0 (it retries; nothing lost), action=tempfail-partial, and
#      sigil_dsns_total{result="refused"} = 1;
#   3. an LMTP back-end refusing one recipient after the data, behind the
#      SMTP front: the same DSN (Status 5.2.2);
#   4. a bounce (Sigil's own) for a UTF-8 sender through a back-end without
#      SMTPUTF8: the DSN cannot go (554 5.6.7, logged as such), the recipient
#      counts as discarded, nothing reaches the back-end.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

PY=/usr/bin/python3
cd "$E2E_DIR"
take_ports P_PLAIN P_NOBNC P_LMTP P_ASCII S_PLAIN S_PROXY S_NOBNC S_LMTP S_ASCII M_PLAIN M_NOBNC

spawn plain "$PY" "$E2E_HERE/fake_backend.py" --rcpt "unknown@example.net=550 5.1.1 <unknown@example.net>: Recipient address rejected: User unknown" \
  "$P_PLAIN" "$E2E_DIR/plain"
spawn nobounce "$PY" "$E2E_HERE/fake_backend.py" --rcpt "unknown@example.net=550 5.1.1 <unknown@example.net>: User unknown" \
  --null-sender "550 5.7.1 No bounces accepted here" "$P_NOBNC" "$E2E_DIR/nobounce"
spawn lmtp "$PY" "$E2E_HERE/fake_backend.py" --lmtp --data "full@example.net=552 5.2.2 <full@example.net>: Mailbox full" \
  "$P_LMTP" "$E2E_DIR/lmtp"
spawn ascii "$PY" "$E2E_HERE/fake_backend.py" --no-smtputf8 "$P_ASCII" "$E2E_DIR/ascii"
until_true 10 port_open "$P_ASCII" || fail "fake back-end ascii not listening"
until_true 10 port_open "$P_PLAIN" || fail "fake back-end plain not listening"
until_true 10 port_open "$P_NOBNC" || fail "fake back-end nobounce not listening"
until_true 10 port_open "$P_LMTP" || fail "fake back-end lmtp not listening"

sigil_config plain.toml "$S_PLAIN" "smtp:[127.0.0.1]:$P_PLAIN"
cat >>plain.toml <<EOF
[[listener]]
name = "proxy"
address = "127.0.0.1:$S_PROXY"
mode = "proxy"
bank = "default"

[metrics]
address = "127.0.0.1:$M_PLAIN"
EOF
"$SIGIL" check-config plain.toml >/dev/null || fail "plain.toml refused"
sigil_config nobounce.toml "$S_NOBNC" "smtp:[127.0.0.1]:$P_NOBNC"
printf '\n[metrics]\naddress = "127.0.0.1:%s"\n' "$M_NOBNC" >>nobounce.toml
sigil_config lmtp.toml "$S_LMTP" "lmtp:[127.0.0.1]:$P_LMTP"
sigil_config ascii.toml "$S_ASCII" "smtp:[127.0.0.1]:$P_ASCII"
sed -i 's/^stages = \[\]$/stages = ["decode"]\ndestiny = { bad-header = "bounce" }/' ascii.toml
"$SIGIL" check-config ascii.toml >/dev/null || fail "ascii.toml refused"
run_sigild sigild_ascii ascii.toml "$S_ASCII"
run_sigild sigild_plain plain.toml "$S_PLAIN"
until_true 10 port_open "$S_PROXY" || fail "the proxy listener is not listening"
run_sigild sigild_nobounce nobounce.toml "$S_NOBNC"
run_sigild sigild_lmtp lmtp.toml "$S_LMTP"

mkmsg() {  # mkmsg NAME: $NAME.eml
  printf 'From: <sender@example.org>\r\nTo: <a@example.net>\r\nSubject: %s\r\nMessage-ID: <%s@e2e.test>\r\n\r\nHello.\r\n' \
    "$1" "$1" >"$1.eml"
}
send() {  # send PORT FILE FROM RCPT...: REPLY, LAST_ID
  REPLY=$("$PY" "$E2E_HERE/send_rcpts.py" "$@" 2>&1) || fail "client: $REPLY"
  LAST_ID=$(grep -oE '[0-9A-Z]{12}' <<<"$REPLY" | head -1)
  [ -n "$LAST_ID" ] || fail "no log id in: $REPLY"
}
has() { grep -qE -- "$2" <<<"$1" || fail "$3: no match for '$2' in:
$1"; }
# files DIR: the fake back-end's messages in DIR.
files() { find "$1" -maxdepth 1 -name 'msg.*' -type f | sort; }
# grep -l exits 1 when no file matches: "no DSN yet" is an empty answer, which
# the callers check (has_dsn_in, check_dsn, [ -n "$f" ]).
dsn_in() { files "$1" | xargs -r grep -l '^Content-Type: multipart/report' || true; }
has_dsn_in() { [ -n "$(dsn_in "$1")" ]; }  # a function: until_true evaluates it each time
count_in() { files "$1" | wc -l; }
# check_dsn FILE RCPT STATUS DIAG_ERE: the DSN is from <> to the sender, one
# failed recipient RCPT with STATUS, Remote-MTA and a Diagnostic-Code
# matching DIAG_ERE.
check_dsn() {
  "$PY" - "$@" <<'PYEOF' || fail "the DSN is not right: $(cat "$1")"
import email, re, sys
from email import policy
path, rcpt, status, diag = sys.argv[1:5]
m = email.message_from_bytes(open(path, "rb").read(), policy=policy.compat32)
assert m["X-Mail-From"].startswith("<>"), m["X-Mail-From"]
assert m["X-Rcpt-To"] == "<sender@example.org>", m["X-Rcpt-To"]
assert m.get_content_type() == "multipart/report", m.get_content_type()
parts = m.get_payload()
assert [p.get_content_type() for p in parts] == ["text/plain", "message/delivery-status", "text/rfc822-headers"]
blocks = parts[1].get_payload()  # message/delivery-status: one Message per field block
per = [b for b in blocks if b["Final-Recipient"]]
assert len(per) == 1, [dict(b) for b in blocks]
b = per[0]
assert b["Final-Recipient"] == "rfc822; " + rcpt, dict(b)
assert b["Action"] == "failed", dict(b)
assert b["Status"] == status, dict(b)
assert b["Remote-MTA"] == "dns; 127.0.0.1", dict(b)
assert re.match(diag, b["Diagnostic-Code"]), (diag, b["Diagnostic-Code"])
PYEOF
}

# ------------------------------------------------------------ 1. refused at RCPT
mkmsg one
send "$S_PLAIN" one.eml sender@example.org a@example.net unknown@example.net c@example.net
has "$REPLY" '^250 2\.0\.0 [0-9A-Z]{12} Ok for 2 of 3 recipients, DSN sent for 1, back-end said: 250 ' "one reply"
[ "$(count_in plain)" -eq 2 ] || fail "want the message and a DSN at the back-end, got: $(files plain)"
f=$(dsn_in plain)
[ -n "$f" ] || fail "no DSN at the back-end"
check_dsn "$f" unknown@example.net 5.1.1 'smtp; 550 5\.1\.1 <unknown@example\.net>: Recipient address rejected: User unknown$'
orig=$(files plain | xargs -r grep -L '^Content-Type: multipart/report')
rcpts=$(grep '^X-Rcpt-To:' "$orig" | tr -d '\r' | tr '\n' ' ')
[ "$rcpts" = "X-Rcpt-To: <a@example.net> X-Rcpt-To: <c@example.net> " ] ||
  fail "the message did not go to a@ and c@ alone: $rcpts"
line=$(LOG="$E2E_DIR/sigild_plain.log" summary_of "$LAST_ID")
has "$line" 'action=partial ' "one summary"
has "$line" 'recipients="unknown@example.net: bounced \(back-end said: 550 5\.1\.1 ' "one summary"
has "$line" 'dsn="250 ' "one summary"
pass "one of three refused at RCPT: 250 to the client, the message to the two others, a DSN for the third"

mkmsg proxied
send "$S_PROXY" proxied.eml sender@example.org a@example.net unknown@example.net c@example.net
has "$REPLY" '^250 2\.0\.0 [0-9A-Z]{12} Ok for 2 of 3 recipients, DSN sent for 1, ' "proxied reply"
[ "$(count_in plain)" -eq 4 ] || fail "proxy: want the message and a DSN more at the back-end, got: $(files plain)"
f=$(dsn_in plain | xargs -r grep -l '^In-Reply-To: <proxied@e2e.test>' || true)  # none: empty, failed on the next line
[ -n "$f" ] || fail "proxy: no DSN for the proxied message"
check_dsn "$f" unknown@example.net 5.1.1 'smtp; 550 5\.1\.1 '
pass "the same through a proxy listener: 250 and a DSN"

# Counted where they happened (docs/metrics.md): per message a 550 at RCPT
# and the final 250; per DSN its final 250.
METRICS_PORT=$M_PLAIN  # metric, want_metric (relay_lib.sh)
want_metric 2 sigil_dsns_total result=sent
want_metric 0 sigil_dsns_total result=refused
want_metric 4 sigil_backend_replies_total class=2xx
want_metric 2 sigil_backend_replies_total class=5xx
want_metric 0 sigil_backend_replies_total class=4xx
want_metric 0 sigil_backend_connect_failures_total
pass "metrics: 2 DSNs sent, back-end replies 4 x 2xx and 2 x 5xx"

# ------------------------------------------------------------ 2. the DSN refused
mkmsg two
send "$S_NOBNC" two.eml sender@example.org a@example.net unknown@example.net
has "$REPLY" '^451 4\.3\.0 [0-9A-Z]{12} Try again later: the DSN for the recipients the back-end refused could not be sent \(550 5\.7\.1 No bounces accepted here\)' "two reply"
line=$(LOG="$E2E_DIR/sigild_nobounce.log" summary_of "$LAST_ID")
has "$line" 'action=tempfail-partial ' "two summary"
has "$line" 'unknown@example.net: tempfail, the DSN was refused' "two summary"
METRICS_PORT=$M_NOBNC
want_metric 1 sigil_dsns_total result=refused
want_metric 0 sigil_dsns_total result=sent
pass "a DSN the forward refuses: 451 4.3.0 for the message (the client retries, nothing lost); counted refused"

# ------------------------------------------------------------ 3. LMTP back-end, after the data
mkmsg three
send "$S_LMTP" three.eml sender@example.org a@example.net full@example.net
has "$REPLY" '^250 2\.0\.0 [0-9A-Z]{12} Ok for 1 of 2 recipients, DSN sent for 1, ' "three reply"
until_true 5 has_dsn_in lmtp || fail "no DSN at the LMTP back-end"
check_dsn "$(dsn_in lmtp)" full@example.net 5.2.2 'smtp; 552 5\.2\.2 <full@example\.net>: Mailbox full$'
pass "an LMTP back-end's 5xx after the data behind an SMTP front: a DSN (Status 5.2.2)"

# ------------------------------------------------------------ 4. UTF-8 sender, no SMTPUTF8
printf 'To: <a@example.net>\r\nSubject: nofrom\r\nMessage-ID: <nofrom@e2e.test>\r\n\r\nHello.\r\n' >nofrom.eml
send --smtputf8 "$S_ASCII" nofrom.eml "sé@example.org" a@example.net
has "$REPLY" '^250 2\.0\.0 [0-9A-Z]{12} .*the bounce was refused \(554 5\.6\.7 SMTPUTF8 is required' "four reply"
log_has sigild_ascii.log 'the DSN to <sé@example.org> needs SMTPUTF8 \(the message came with it\), which the \[forward\] back-end does not offer' ||
  fail "no log line saying the DSN needs SMTPUTF8: $(cat sigild_ascii.log)"
has "$(LOG="$E2E_DIR/sigild_ascii.log" summary_of "$LAST_ID")" 'a@example.net: discarded, the DSN was refused' "four summary"
[ "$(count_in ascii)" -eq 0 ] || fail "something reached the back-end without SMTPUTF8: $(files ascii)"
pass "a DSN for a UTF-8 sender through a back-end without SMTPUTF8: refused (554 5.6.7), logged"
