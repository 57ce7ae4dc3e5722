#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.recipients — per-recipient treatment (lovers, bypass, splitting), the
# bounce destiny (a DSN, RFC 3464, with its backscatter guards), and the
# one-reply rules for SMTP and LMTP fronts, between a Python client and
# smtp-sink (whose dumps record the envelope: X-Mail-Args and X-Rcpt-Args).
#
# The category is bad-header (no From field, found by the decode stage), so
# no scanner is needed; lovers and bypass work on findings whatever their
# stage.
#
# Peers: smtp-sink "sink"; smtp-sink "soft" that answers every RCPT with a
# 4xx; sigild "main" with one listener per bank (default: discard, bounce,
# reject, tempfail), [[recipient]] rules lover@ (loves bad-header) and
# nocheck@ (bypasses decode); sigild "defer" (bounce bank) forwarding to
# "soft".
#
# Asserts:
#   - a lover and a non-lover (discard): one reply 250, one back-end copy
#     to the lover only, the summary lists both;
#   - a recipient bypassing decode alone: decode does not run (bypassed);
#     beside another recipient it runs, and only the other is discarded;
#   - bounce: the original is not delivered; a DSN goes to the sender from
#     <> (multipart/report: Final-Recipient, Action: failed, Status 5.7.0,
#     Original-Recipient from ORCPT, the original header as
#     text/rfc822-headers); no DSN for the null sender, Precedence: bulk, or
#     NOTIFY=NEVER, each counted in sigil_dsn_suppressed_recipients_total
#     by its reason, and the one DSN in sigil_dsns_total{result="sent"};
#   - reject over SMTP: all rejected → 554; a lover beside → 250, the lover
#     gets the message and the other recipient a bounce;
#   - tempfail over SMTP with a lover beside → 451 for the message, nothing
#     delivered; over LMTP → the lover 250 (delivered), the other 451; reject
#     over LMTP → the other 554;
#   - the DSN cannot be sent (4xx from the back-end) → 451, nothing lost.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

PY=/usr/bin/python3
cd "$E2E_DIR"
take_ports P_DISC P_BNC P_REJ P_TF P_DEFER P_SINK P_SOFT PM

run_sink sink "$P_SINK"
run_sink soft "$P_SOFT" -r rcpt
conf() {  # conf FILE SINKPORT LISTENERS
  cat >"$1" <<EOF
[daemon]
allow_root = true              # the tests run as root (CI)
log_level = "info"
drain_timeout = 5
spool_dir = "$E2E_DIR"

[smtp]
hostname = "sigil.e2e.test"

[forward]
target = "smtp:[127.0.0.1]:$2"
connect_timeout = 5
reply_timeout = 30

[[recipient]]
match = ["lover@example.net"]
lovers = ["bad-header"]

[[recipient]]
match = ["nocheck@"]
bypass = ["decode"]

[bank.default]
stages = ["decode"]
destiny = { bad-header = "discard" }
[bank.bounce]
stages = ["decode"]
destiny = { bad-header = "bounce" }
[bank.reject]
stages = ["decode"]
destiny = { bad-header = "reject" }
[bank.tempfail]
stages = ["decode"]
destiny = { bad-header = "tempfail" }
$3
EOF
  "$SIGIL" check-config "$1" >check-config.out 2>&1 || fail "check-config $1: $(cat check-config.out)"
}
conf main.toml "$P_SINK" "
[[listener]]
address = \"127.0.0.1:$P_DISC\"
[[listener]]
address = \"127.0.0.1:$P_BNC\"
bank = \"bounce\"
[[listener]]
address = \"127.0.0.1:$P_REJ\"
bank = \"reject\"
[[listener]]
address = \"127.0.0.1:$P_TF\"
bank = \"tempfail\""
conf defer.toml "$P_SOFT" "
[[listener]]
address = \"127.0.0.1:$P_DEFER\"
bank = \"bounce\""
printf '\n[metrics]\naddress = "127.0.0.1:%s"\n' "$PM" >>main.toml
METRICS_PORT=$PM  # metric, want_metric (relay_lib.sh)
run_sigild sigild main.toml "$P_DISC"
run_sigild defer defer.toml "$P_DEFER"

mkmsg() {  # mkmsg NAME [EXTRA_HEADER]: $NAME.eml without From (bad-header)
  {
    [ -n "${2:-}" ] && printf '%s\r\n' "$2"
    printf 'To: <rcpt@example.net>\r\nSubject: %s\r\n' "$1"
    printf 'Date: %s\r\nMessage-ID: <%s@e2e.test>\r\n\r\n' "$(LC_ALL=C date -R)" "$1"
    printf 'Hello,\r\nthis is message %s.\r\n' "$1"
  } >"$1.eml"
}
send() {  # send [--lmtp] PORT FILE FROM RCPT...: REPLY (all lines), LAST_ID
  REPLY=$("$PY" "$E2E_HERE/send_rcpts.py" "$@" 2>&1) || fail "client: $REPLY"
  LAST_ID=$(grep -oE '[0-9A-Z]{12}' <<<"$REPLY" | head -1)
  [ -n "$LAST_ID" ] || fail "no log id in: $REPLY"
}
has() { grep -qE -- "$2" <<<"$1" || fail "$3: no line matching '$2' in:
$1"; }
hasnt() { if grep -qE -- "$2" <<<"$1"; then fail "$3: a line matches '$2' in:
$1"; fi; }
summary() { LOG="$E2E_DIR/${2:-sigild}.log" summary_of "$1"; }
# copies NAME: the sink's files of message NAME that are not DSNs.
copies() { dump_files "$1" | xargs -r grep -L '^Content-Type: multipart/report'; }
# dsn_for NAME: the sink's DSN whose returned header names NAME (waits 10 s).
dsn_for() {
  local f=""
  for _ in $(seq 100); do
    # Polling: no DSN yet is a normal state; the bound below fails the test.
    f=$(dump_files "$1" | xargs -r grep -l '^Content-Type: multipart/report' || true)
    [ -n "$f" ] && break
    sleep 0.1
  done
  [ -n "$f" ] || fail "no DSN for $1"
  [ "$(printf '%s\n' "$f" | wc -l)" -eq 1 ] || fail "more than one DSN for $1: $f"
  printf '%s\n' "$f"
}
nothing_of() {  # nothing_of NAME: nothing of NAME reached the sink (after the reply)
  sleep 0.3
  [ -z "$(dump_files "$1")" ] || fail "$1 reached the sink: $(dump_files "$1")"
}

# ------------------------------------------------------------ 1. lovers
mkmsg love
send "$P_DISC" love.eml sender@example.org lover@example.net other@example.net
has "$REPLY" '^250 ' "love reply"
h=$(headers_of "$(dump_of love)")
has "$h" '^X-Rcpt-Args: <lover@example.net>' "love copy"
hasnt "$h" 'other@example.net' "love copy"
line=$(summary "$LAST_ID")
has "$line" 'recipients="lover@example.net: delivered \(clean\); other@example.net: discarded \(bad-header: missing From\)"' "love summary"
pass "lover and non-lover: one 250, the lover alone gets the message"

# ------------------------------------------------------------ 2. bypass
mkmsg skip
send "$P_DISC" skip.eml sender@example.org nocheck@example.net
has "$REPLY" '^250 ' "skip reply"
dump_of skip >/dev/null
has "$(summary "$LAST_ID")" 'stages=decode:bypassed' "skip summary"
mkmsg skip2
send "$P_DISC" skip2.eml sender@example.org nocheck@example.net other@example.net
has "$REPLY" '^250 ' "skip2 reply"
h=$(headers_of "$(dump_of skip2)")
has "$h" '^X-Rcpt-Args: <nocheck@example.net>' "skip2 copy"
hasnt "$h" 'other@example.net' "skip2 copy"
has "$(summary "$LAST_ID")" 'stages=decode:continue' "skip2 summary"
pass "bypass: a stage every recipient bypasses does not run; otherwise its findings skip the bypassing recipient"

# ------------------------------------------------------------ 3. bounce
mkmsg bnc
send "$P_BNC" bnc.eml sender@example.org "other@example.net NOTIFY=FAILURE ORCPT=rfc822;orig@example.net"
has "$REPLY" '^250 .*bounced' "bnc reply"
f=$(dsn_for bnc)
"$PY" - "$f" <<'PYEOF' || fail "the DSN is not what RFC 3464 says: $(cat "$f")"
import email, sys
from email import policy
m = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=policy.compat32)
assert m["X-Mail-Args"] == "<>", m["X-Mail-Args"]          # smtp-sink: the envelope sender
assert "<sender@example.org>" in m["X-Rcpt-Args"], m["X-Rcpt-Args"]
assert m.get_content_type() == "multipart/report", m.get_content_type()
assert m.get_param("report-type") == "delivery-status"
assert m["Auto-Submitted"] == "auto-replied"
parts = m.get_payload()
types = [p.get_content_type() for p in parts]
assert types == ["text/plain", "message/delivery-status", "text/rfc822-headers"], types
ds = parts[1].get_payload()
text = "\n".join(str(b) for b in ds) if isinstance(ds, list) else ds
for want in ("Reporting-MTA: dns; sigil.e2e.test", "Final-Recipient: rfc822; other@example.net",
             "Original-Recipient: rfc822;orig@example.net", "Action: failed", "Status: 5.7.0",
             "Diagnostic-Code: smtp; 554 5.7.0 bad-header: missing From"):
    assert want in text, (want, text)
hdr = parts[2].get_payload()
assert "Message-ID: <bnc@e2e.test>" in hdr and "Subject: bnc" in hdr, hdr
PYEOF
[ -z "$(copies bnc)" ] || fail "a bounced message was delivered: $(copies bnc)"
line=$(summary "$LAST_ID")
has "$line" 'recipients="other@example.net: bounced' "bnc summary"
has "$line" 'dsn="250' "bnc summary"
pass "bounce: DSN from <> to the sender (multipart/report, ORCPT, header returned), original not delivered"

mkmsg bnull
send "$P_BNC" bnull.eml "" other@example.net
has "$REPLY" '^250 .*no bounce: null sender' "bnull reply"
mkmsg bbulk "Precedence: bulk"
send "$P_BNC" bbulk.eml sender@example.org other@example.net
has "$REPLY" '^250 .*no bounce: Precedence: bulk' "bbulk reply"
mkmsg bnever
send "$P_BNC" bnever.eml sender@example.org "other@example.net NOTIFY=NEVER"
has "$REPLY" '^250 .*no bounce: NOTIFY=NEVER' "bnever reply"
for n in bnull bbulk bnever; do nothing_of "$n"; done
want_metric 1 sigil_dsn_suppressed_recipients_total reason=null_sender
want_metric 1 sigil_dsn_suppressed_recipients_total reason=precedence
want_metric 1 sigil_dsn_suppressed_recipients_total reason=notify
want_metric 0 sigil_dsn_suppressed_recipients_total reason=virus
want_metric 1 sigil_dsns_total result=sent
pass "backscatter guards: no DSN to <>, for Precedence: bulk, or with NOTIFY=NEVER; counted by reason"

# ------------------------------------------------------------ 4. reject (SMTP)
mkmsg rej
send "$P_REJ" rej.eml sender@example.org other@example.net
has "$REPLY" '^554 ' "rej reply"
nothing_of rej
mkmsg rej2
send "$P_REJ" rej2.eml sender@example.org lover@example.net other@example.net
has "$REPLY" '^250 ' "rej2 reply"
f=$(dsn_for rej2)
grep -q 'Final-Recipient: rfc822; other@example.net' "$f" || fail "rej2: the DSN does not name other@: $(cat "$f")"
f=$(copies rej2)
[ "$(printf '%s\n' "$f" | grep -c .)" -eq 1 ] || fail "rej2: want one copy, got: $f"
h=$(headers_of "$f")
has "$h" '^X-Rcpt-Args: <lover@example.net>' "rej2 copy"
hasnt "$h" 'other@example.net' "rej2 copy"
pass "reject over SMTP: 554 when all are rejected; beside a lover, 250 and a bounce for the other"

# ------------------------------------------------------------ 5. tempfail, LMTP
mkmsg tf
send "$P_TF" tf.eml sender@example.org lover@example.net other@example.net
has "$REPLY" '^451 ' "tf reply (SMTP)"
nothing_of tf
mkmsg tfl
send --lmtp "$P_TF" tfl.eml sender@example.org lover@example.net other@example.net
has "$REPLY" '^lover@example.net 250 ' "tfl reply (LMTP)"
has "$REPLY" '^other@example.net 451 ' "tfl reply (LMTP)"
h=$(headers_of "$(dump_of tfl)")
has "$h" '^X-Rcpt-Args: <lover@example.net>' "tfl copy"
hasnt "$h" 'other@example.net' "tfl copy"
mkmsg rejl
send --lmtp "$P_REJ" rejl.eml sender@example.org lover@example.net other@example.net
has "$REPLY" '^lover@example.net 250 ' "rejl reply (LMTP)"
has "$REPLY" '^other@example.net 554 ' "rejl reply (LMTP)"
dump_of rejl >/dev/null
pass "tempfail over SMTP tempfails the message; over LMTP each recipient gets its own reply"

# ------------------------------------------------------------ 6. DSN deferred
mkmsg bdef
send "$P_DEFER" bdef.eml sender@example.org other@example.net
has "$REPLY" '^451 .*bounce could not be sent' "bdef reply"
has "$(summary "$LAST_ID" defer)" 'action=tempfail' "bdef summary"
pass "a DSN the back-end defers: 451, the front keeps the message"
