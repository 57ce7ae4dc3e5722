#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.postfix_refusals — a real Postfix re-injection smtpd (private instance,
# postfix -c DIR) that refuses one recipient with 550 5.1.1
# (check_recipient_access) behind sigild's SMTP front, and the DSN Sigil
# sends back through it, delivered by Postfix into the sender's mailbox.
#
#   client → sigild :S → postfix smtpd :R → virtual(8) → DIR/mail/rcpt/
#
# Every address of example.net lands in the one Maildir mailbox, so the
# copies of the message and the DSN to the sender are all there.
#
# Asserts:
#   1. ASCII sender, three recipients, unknown@ refused: the client gets 250
#      "Ok for 2 of 3"; the mailbox gets the message (for a@ and c@) and a DSN
#      to sender@ (message/delivery-status, Final-Recipient unknown@, Status
#      5.1.1, Diagnostic-Code quoting Postfix's 550, Remote-MTA); the summary
#      names unknown@ as bounced;
#   2. UTF-8 sender (MAIL FROM:<sé@example.net> SMTPUTF8): the DSN goes with
#      SMTPUTF8 (Postfix would refuse it 553 5.6.7 otherwise) and is
#      delivered to sé@: message/global-delivery-status and
#      message/global-headers (RFC 6533); Postfix logs it sent.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
source "$(dirname "$0")/postfix_lib.sh"

pf_require
PY=/usr/bin/python3
cd "$E2E_DIR"
take_ports R S
PF="$E2E_DIR/pf"
mkdir -p "$PF/mail"
chown nobody "$PF/mail"
pf_setup "$PF" "" "$R" "" "$(pf_mailbox_conf "$PF")
smtputf8_enable = yes
# The re-injection smtpd refuses one recipient for good (docs/postfix.md's recipe
# skips unknown-recipient checks there; an access map still applies).
refusals_recipient_restrictions = check_recipient_access inline:{ { unknown@example.net = 550 5.1.1 User unknown } }, permit_mynetworks, reject" \
  "127.0.0.1:$R inet n - n - - smtpd
  -o content_filter=
  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
  -o smtpd_relay_restrictions=
  -o smtpd_recipient_restrictions=\$refusals_recipient_restrictions
  -o mynetworks=127.0.0.0/8
  -o smtpd_authorized_xforward_hosts=127.0.0.0/8"
pf_start "$PF" "$R"

sigil_config sigil.toml "$S" "smtp:[127.0.0.1]:$R"
run_sigild sigild sigil.toml "$S"

MBOX="$PF/mail/rcpt/new"
mkmsg() {  # mkmsg NAME FROM: $NAME.eml
  printf 'From: <%s>\r\nTo: <a@example.net>\r\nSubject: %s\r\nMessage-ID: <%s@e2e.test>\r\n\r\nHello.\r\n' \
    "$2" "$1" "$1" >"$1.eml"
}
send() {  # send [--smtputf8] PORT FILE FROM RCPT...: REPLY, LAST_ID
  REPLY=$("$PY" "$E2E_HERE/send_rcpts.py" "$@" 2>&1) || fail "client: $REPLY"
  LAST_ID=$(grep -oE '[0-9A-Z]{12}' <<<"$REPLY" | head -1)
  [ -n "$LAST_ID" ] || fail "no log id in: $REPLY"
}
has() { grep -qE -- "$2" <<<"$1" || fail "$3: no match for '$2' in:
$1"; }
# dsn_of NAME, dsn_for NAME (waits): the mailbox's DSN whose returned header names NAME (10 s).
dsn_of() { grep -l "^Message-ID: <$1@e2e.test>" "$MBOX"/* 2>/dev/null | xargs -r grep -l '^Content-Type: multipart/report' || true; }
has_dsn() { [ -n "$(dsn_of "$1")" ]; }  # a function: until_true evaluates it each time
dsn_for() {
  until_true 10 has_dsn "$1" || fail "no DSN for $1 in the mailbox: $(ls "$MBOX" 2>&1); $(tail -n 20 "$PF/maillog")"
  dsn_of "$1"
}
# check_dsn FILE TO STATUS_TYPE: the DSN delivered to TO, its status part of
# type STATUS_TYPE, for unknown@ refused 550 5.1.1 by Postfix.
check_dsn() {
  "$PY" - "$@" <<'PYEOF' || fail "the DSN is not right: $(cat "$1")"
import email, re, sys
from email import policy
path, to, stype = sys.argv[1:4]
m = email.message_from_bytes(open(path, "rb").read(), policy=policy.compat32)
raw = open(path, "rb").read().decode("utf-8")
assert m["Return-Path"] == "<>", m["Return-Path"]
assert re.search(r"^Delivered-To: " + re.escape(to) + r"$", raw, re.M), raw[:400]
assert m.get_content_type() == "multipart/report", m.get_content_type()
types = [p.get_content_type() for p in m.get_payload()]
want = ["text/plain", stype,
        "message/global-headers" if stype == "message/global-delivery-status" else "text/rfc822-headers"]
assert types == want, types
status = raw[raw.index("Content-Type: " + stype):]
for field in ("Final-Recipient: rfc822; unknown@example.net", "Action: failed", "Status: 5.1.1",
              "Remote-MTA: dns; 127.0.0.1",
              "Diagnostic-Code: smtp; 550 5.1.1 <unknown@example.net>: Recipient address rejected: User unknown"):
    assert field in status, (field, status[:800])
PYEOF
}

# ------------------------------------------------------------ 1. ASCII sender
mkmsg ascii sender@example.net
send "$S" ascii.eml sender@example.net a@example.net unknown@example.net c@example.net
has "$REPLY" '^250 2\.0\.0 [0-9A-Z]{12} Ok for 2 of 3 recipients, DSN sent for 1, back-end said: 250 2\.0\.0 Ok: queued as ' "ascii reply"
f=$(dsn_for ascii)
check_dsn "$f" sender@example.net message/delivery-status
copies=$(grep -l '^Message-ID: <ascii@e2e.test>' "$MBOX"/* | xargs grep -L '^Content-Type: multipart/report' || true)
[ "$(grep -c . <<<"$copies")" -eq 2 ] || fail "want 2 copies of the message (a@, c@), got: $copies"
line=$(LOG="$E2E_DIR/sigild.log" summary_of "$LAST_ID")
has "$line" 'action=partial ' "ascii summary"
has "$line" 'recipients="unknown@example.net: bounced \(back-end said: 550 5\.1\.1 <unknown@example\.net>: Recipient address rejected: User unknown\)' "ascii summary"
pass "Postfix refuses one of three: 250 to the client, 2 copies delivered, the DSN in the sender's mailbox"

# ------------------------------------------------------------ 2. UTF-8 sender
mkmsg utf8 "sé@example.net"
send --smtputf8 "$S" utf8.eml "sé@example.net" a@example.net unknown@example.net
has "$REPLY" '^250 2\.0\.0 [0-9A-Z]{12} Ok for 1 of 2 recipients, DSN sent for 1, ' "utf8 reply"
f=$(dsn_for utf8)
check_dsn "$f" "sé@example.net" message/global-delivery-status
log_has "$PF/maillog" 'to=<sé@example.net>.*status=sent' || fail "Postfix did not log the DSN to sé@ as sent"
if log_has "$PF/maillog" '5\.6\.7'; then fail "Postfix refused something for SMTPUTF8: $(grep '5\.6\.7' "$PF/maillog")"; fi
pass "UTF-8 sender: the DSN goes with SMTPUTF8 (message/global-delivery-status) and Postfix delivers it"
