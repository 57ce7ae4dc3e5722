#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.xforward_trust — XFORWARD is believed only from the listener's
# xforward_hosts (docs/postfix.md "Postfix after-queue setup"; core/peer_trust.hpp).
#
# One sigild, listener `e2e` (bank default: dkim-sign, not originating) with
# xforward_hosts = ["127.0.0.1/32"], and [[network]] 127.0.0.1/32 → bank
# mynets (originating): mail from 127.0.0.1 is signed with example.com's key.
# Clients bind their source address (127.0.0.2 is loopback too, but not
# in the list); the back-end is an smtp-sink.
#   1. 127.0.0.2: no XFORWARD in its EHLO reply; XFORWARD ADDR=127.0.0.1 and
#      XFORWARD PROTO=ESMTPA each get 550 5.7.0, and sigild logs the refusal
#      naming 127.0.0.2; its message is relayed unsigned, with the socket's
#      address and without the mynets bank.
#   2. 127.0.0.1 (the MTA): XFORWARD is offered and believed as before:
#      ADDR=192.0.2.7 PROTO=ESMTP → the summary names 192.0.2.7, no mynets,
#      unsigned; PROTO=ESMTPA → signed; no XFORWARD at all → mynets, signed.
#   3. SIGHUP with xforward_hosts = []: the next connection from 127.0.0.1
#      is not offered XFORWARD either and gets 550 5.7.0 for it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

take_ports P_IN P_SINK
K="$E2E_DIR/keys"
mkdir -m 0700 "$K"
"$SIGIL" keys generate --selector ed2026 --domain example.com --type ed25519 --out "$K/ed.pem" \
  >"$E2E_DIR/ed.record" 2>"$E2E_DIR/keygen.err" || fail "sigil keys generate: $(cat "$E2E_DIR/keygen.err")"

CFG="$E2E_DIR/sigil.toml"
sigil_config "$CFG" "$P_IN" "smtp:[127.0.0.1]:$P_SINK"
python3 - "$CFG" "$K/ed.pem" <<'PY'
import sys
path, key = sys.argv[1], sys.argv[2]
s = open(path).read()
for old, new in (('name = "e2e"\n', 'name = "e2e"\nxforward_hosts = ["127.0.0.1/32"]\n'),
                 ('stages = []\n', 'stages = ["dkim-sign"]\noriginating = false\n')):
    assert old in s, "sigil_config changed: " + old
    s = s.replace(old, new, 1)
s += """
[bank.mynets]
originating = true
[[network]]
cidrs = ["127.0.0.1/32"]
bank = "mynets"
[[key]]
name = "ex-ed"
file = "%s"
domain = "example.com"
selector = "ed2026"
[[signing]]
match = ["example.com"]
keys = ["ex-ed"]
""" % key
open(path, "w").write(s)
PY
"$SIGIL" check-config "$CFG" >"$E2E_DIR/check.out" 2>&1 || fail "config refused: $(cat "$E2E_DIR/check.out")"
run_sink sink "$P_SINK"
run_sigild sigild "$CFG" "$P_IN"
LOG="$E2E_DIR/sigild.log"

# xsend.py PORT SOURCE NAME [XFORWARD-ARGS...]: from SOURCE, EHLO (prints
# "ehlo-xforward yes|no"), each XFORWARD (prints "xforward CODE TEXT"), then
# one message from alice@example.com with Message-ID <NAME@e2e.test> (prints
# "data CODE TEXT").
cat >"$E2E_DIR/xsend.py" <<'PYEOF'
import smtplib, sys
port, src, name, xfs = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
s = smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(src, 0))
s.ehlo("client.e2e.test")
print("ehlo-xforward", "yes" if s.has_extn("xforward") else "no")
for x in xfs:
    code, text = s.docmd("XFORWARD", x)
    print("xforward", code, text.decode())
msg = ("From: Alice <alice@example.com>\r\nTo: <rcpt@example.net>\r\nSubject: %s\r\n"
       "Message-ID: <%s@e2e.test>\r\n\r\nbody of %s\r\n" % (name, name, name))
s.mail("alice@example.com")
s.rcpt("rcpt@example.net")
code, text = s.data(msg.encode())
print("data", code, text.decode())
s.quit()
PYEOF

# xsend SOURCE NAME [XFORWARD-ARGS...]: runs xsend.py; OUT = its output,
# LAST_ID = sigild's log id from the reply to the dot (which must be 250).
xsend() {
  OUT=$(python3 "$E2E_DIR/xsend.py" "$P_IN" "$@" 2>&1) || fail "xsend $*: $OUT"
  grep -qE '^data 250 ' <<<"$OUT" || fail "xsend $*: message not accepted: $OUT"
  LAST_ID=$(grep '^data ' <<<"$OUT" | grep -oE '[0-9A-Z]{12}' | head -1)
  [ -n "$LAST_ID" ] || fail "xsend $*: no log id in $OUT"
}
# signed NAME: NAME reached the sink once, with a DKIM-Signature of example.com.
signed() { grep -qiE '^DKIM-Signature:.* d=example\.com' "$(dump_of "$1")"; }
# no_signature NAME: NAME reached the sink once, without any DKIM-Signature.
no_signature() { ! grep -qi '^DKIM-Signature:' "$(dump_of "$1")"; }

# ------------------------------------------------ 1. an untrusted loopback peer
python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null ||
  fail "cannot bind 127.0.0.2 (loopback is 127.0.0.0/8 on Linux)"
xsend 127.0.0.2 fake1 ADDR=127.0.0.1 PROTO=ESMTPA
grep -qx 'ehlo-xforward no' <<<"$OUT" || fail "127.0.0.2 was offered XFORWARD: $OUT"
[ "$(grep -cE '^xforward 550 5\.7\.0 ' <<<"$OUT")" -eq 2 ] ||
  fail "XFORWARD from 127.0.0.2: want 550 5.7.0 twice, got: $OUT"
log_has "$LOG" 'smtp: .*127\.0\.0\.2: XFORWARD refused: not in listener e2e.s xforward_hosts' ||
  fail "no log line naming 127.0.0.2 for the refused XFORWARD"
line=$(summary_of "$LAST_ID")
grep -q ' client=\[127\.0\.0\.2\]' <<<"$line" || fail "fake1: the summary believed XFORWARD: $line"
! grep -q 'mynets' <<<"$line" || fail "fake1 got 127.0.0.1's bank: $line"
grep -q 'dkim="unsigned: not originating' <<<"$line" || fail "fake1: $line"
no_signature fake1 || fail "fake1 from 127.0.0.2 was signed with example.com's key"
pass "127.0.0.2: no XFORWARD offered, ADDR=127.0.0.1 and PROTO=ESMTPA → 550 5.7.0 (logged), message unsigned, bank default"

# ------------------------------------------------ 2. the MTA at 127.0.0.1
xsend 127.0.0.1 real1 "ADDR=192.0.2.7 PROTO=ESMTP"
grep -qx 'ehlo-xforward yes' <<<"$OUT" || fail "127.0.0.1 was not offered XFORWARD: $OUT"
grep -qE '^xforward 250 ' <<<"$OUT" || fail "XFORWARD from 127.0.0.1 refused: $OUT"
line=$(summary_of "$LAST_ID")
grep -q ' client=\[192\.0\.2\.7\]' <<<"$line" || fail "real1: XFORWARD ADDR not believed: $line"
! grep -q 'mynets' <<<"$line" || fail "real1 (client 192.0.2.7) got the mynets bank: $line"
no_signature real1 || fail "real1 (client 192.0.2.7, PROTO=ESMTP) was signed"

xsend 127.0.0.1 real2 "ADDR=192.0.2.7 PROTO=ESMTPA"
signed real2 || fail "real2 (PROTO=ESMTPA from the MTA) was not signed: $(summary_of "$LAST_ID")"

xsend 127.0.0.1 real3
line=$(summary_of "$LAST_ID")
grep -q 'bank=default+mynets' <<<"$line" || fail "real3 from 127.0.0.1: no mynets bank: $line"
signed real3 || fail "real3 from 127.0.0.1 was not signed: $line"
pass "127.0.0.1: XFORWARD offered and believed (ADDR, PROTO=ESMTPA signs); without it, mynets signs"

# ------------------------------------------------ 3. a reload applies to new connections
sed -i 's|^xforward_hosts = .*|xforward_hosts = []|' "$CFG"
grep -qx 'xforward_hosts = \[\]' "$CFG" || fail "could not rewrite xforward_hosts in $CFG"
kill -HUP "$sigild_PID"
until_true 10 log_has "$LOG" 'configuration reloaded from' || fail "no 'configuration reloaded' after SIGHUP"
xsend 127.0.0.1 after-hup ADDR=192.0.2.9
grep -qx 'ehlo-xforward no' <<<"$OUT" || fail "after the reload to xforward_hosts = [], 127.0.0.1 was offered XFORWARD: $OUT"
grep -qE '^xforward 550 5\.7\.0 ' <<<"$OUT" || fail "after the reload, XFORWARD from 127.0.0.1: $OUT"
grep -q ' client=\[127\.0\.0\.1\]' <<<"$(summary_of "$LAST_ID")" || fail "after-hup: XFORWARD believed after the reload"
pass "SIGHUP to xforward_hosts = []: 127.0.0.1's next connection is refused XFORWARD"
