#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.postfix_signing — the Postfix recipe that routes only outbound mail
# through Sigil's signing listener.  A private Postfix (postfix_lib.sh) with
# two content_filter routes:
#
#   originating: client → smtpd :SUB (-o content_filter=sigil-out:...) → qmgr
#                → sigil-out → sigild `out` (originating = true) → smtpd :R
#   inbound:     client → smtpd :IN (main.cf content_filter=sigil-in:...) → qmgr
#                → sigil-in → sigild `in` (originating = false) → smtpd :R
#   smtpd :R (re-injection, content_filter=) → qmgr → virtual(8) → Maildir
#
# The recipe, with the production ports (this test picks free ones):
#
#   main.cf — everything not routed otherwise is inbound:
#     content_filter = sigil-in:[127.0.0.1]:10024
#
#   master.cf — the originating entrance has its own route (here a second
#   smtpd; in production the submission service, with SASL):
#     submission inet n       -       n       -       -       smtpd
#       -o syslog_name=postfix/submission
#       -o smtpd_sasl_auth_enable=yes
#       -o smtpd_client_restrictions=permit_sasl_authenticated,reject
#       -o content_filter=sigil-out:[127.0.0.1]:10026
#     # Postfix → Sigil, one transport per route
#     sigil-in  unix  -       -       n       -       4       smtp
#       -o smtp_data_done_timeout=1200
#       -o smtp_send_xforward_command=yes
#       -o disable_dns_lookups=yes
#       -o max_use=20
#     sigil-out unix  -       -       n       -       4       smtp
#       -o smtp_data_done_timeout=1200
#       -o smtp_send_xforward_command=yes
#       -o disable_dns_lookups=yes
#       -o max_use=20
#     # Sigil → Postfix: docs/postfix.md's re-injection smtpd on 127.0.0.1:10025
#     # (content_filter= , receive_override_options=..., permit_mynetworks,
#     # smtpd_authorized_xforward_hosts=127.0.0.0/8).
#
#   sigil.toml:
#     [forward]
#     target = "smtp:[127.0.0.1]:10025"
#     [bank.out]
#     stages = ["dkim-sign"]
#     originating = true
#     [bank.in]
#     stages = ["dkim-verify", "dkim-sign"]  # verifies; signs only clients Postfix reports through
#     originating = false        # XFORWARD PROTO=ESMTPA/ESMTPSA (SASL on port 25)
#     [[listener]]
#     name = "out"
#     address = "127.0.0.1:10026"
#     bank = "out"
#     [[listener]]
#     name = "in"
#     address = "127.0.0.1:10024"
#     bank = "in"
#
#   Mail that sendmail(1) submits goes through pickup, which follows main.cf's
#   content_filter (inbound, unsigned); to sign it, give pickup its own route:
#     pickup unix n - n 60 1 pickup -o content_filter=sigil-out:[127.0.0.1]:10026
#
# Asserts: a message submitted on SUB arrives in the mailbox exactly once,
# with an RSA and an Ed25519 DKIM-Signature that both verify (dkimpy, keys fed
# through a dnsfunc) after Postfix's re-injection and delivery, body intact;
# an SMTPUTF8 message with dot lines and an 8-bit body likewise; the same
# From: @example.com message received on IN arrives exactly once, unsigned,
# and sigild logs dkim="unsigned: not originating" for it; the inbound
# listener also verifies (dkim-verify, keys from [dns] static_records): in1
# gets dkim=none and loses the forged Authentication-Results it carried, and
# out1 as delivered, sent back in on IN, verifies there (RSA and Ed25519)
# after two passes through Postfix; Postfix's log shows each went through its
# own transport and sigild port.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
source "$(dirname "$0")/postfix_lib.sh"
source "$(dirname "$0")/signing_lib.sh"

pf_require
PY=/usr/bin/python3
"$PY" -c 'import dkim, nacl' 2>/dev/null ||
  fail "$PY cannot import dkim and nacl (packages python3-dkim, python3-nacl)"
command -v openssl >/dev/null || fail "openssl is not installed"

take_ports IN SUB R S_IN S_OUT
K="$E2E_DIR/keys"
mkdir -m 0700 "$K"

# ---------------------------------------------------------------- helpers
# send.py PORT FROM TO FILE [--8bit] [--smtputf8]: one message (CRLF lines;
# smtplib dot-stuffs); prints the reply to the dot; exit 1 unless 2xx.
cat >"$E2E_DIR/send.py" <<'PYEOF'
import smtplib, sys
port, frm, to, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
opts = [{"--8bit": "BODY=8BITMIME", "--smtputf8": "SMTPUTF8"}[a] for a in sys.argv[5:]]
s = smtplib.SMTP("127.0.0.1", port, timeout=60)
s.ehlo("client.e2e.test")
code, text = s.mail(frm, opts)
if code != 250: sys.exit("MAIL: %d %s" % (code, text.decode()))
code, text = s.rcpt(to)
if code not in (250, 251): sys.exit("RCPT: %d %s" % (code, text.decode()))
code, text = s.data(open(path, "rb").read())
print(code, text.decode("utf-8", "replace"))
s.quit()
sys.exit(0 if 200 <= code < 300 else 1)
PYEOF

# verify.py DNSFILE MSGFILE ORIGFILE: every DKIM-Signature of MSGFILE checked
# by dkimpy ("sig I d= s= a= pass|FAIL" lines, then "sigs=N pass=P"), and
# "body=same|DIFFERENT" against ORIGFILE (trailing empty lines aside).
cat >"$E2E_DIR/verify.py" <<'PYEOF'
import re, sys, dkim
dns = dict(l.rstrip(b"\n").split(b" ", 1) for l in open(sys.argv[1], "rb"))
dnsfunc = lambda name, timeout=5: dns.get(name.lower().rstrip(b"."))
crlf = lambda b: b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
msg = crlf(open(sys.argv[2], "rb").read())
n = len(re.findall(rb"(?im)^dkim-signature:", msg.split(b"\r\n\r\n", 1)[0]))
ok = 0
for i in range(n):
    d = dkim.DKIM(msg)
    try:
        good, why = d.verify(idx=i, dnsfunc=dnsfunc), ""
    except Exception as e:
        good, why = False, repr(e)
    f = d.signature_fields or {}
    g = lambda k: f.get(k, b"?").decode()
    print("sig %d d=%s s=%s a=%s %s %s" % (i, g(b"d"), g(b"s"), g(b"a"),
                                         "pass" if good else "FAIL", why))
    ok += bool(good)
print("sigs=%d pass=%d" % (n, ok))
body = lambda m: m.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n")
orig = crlf(open(sys.argv[3], "rb").read())
print("body=" + ("same" if body(msg) == body(orig) else "DIFFERENT"))
PYEOF


# ---------------------------------------------------------------- keys
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K/rsa.pem" 2>/dev/null ||
  fail "openssl genpkey RSA"
openssl genpkey -algorithm ED25519 -out "$K/ed.pem" 2>/dev/null || fail "openssl genpkey ED25519"
chmod 600 "$K/rsa.pem" "$K/ed.pem"
DNS="$E2E_DIR/dns.txt"
{
  echo "rsa2026._domainkey.example.com v=DKIM1; k=rsa; p=$(txt_p "$K/rsa.pem")"
  echo "ed2026._domainkey.example.com v=DKIM1; k=ed25519; p=$(txt_p "$K/ed.pem")"
} >"$DNS"

# ---------------------------------------------------------------- Postfix
PF="$E2E_DIR/pf"
mkdir -p "$PF/mail"
chown nobody "$PF/mail"
MAILDIR="$PF/mail/rcpt/new"
SIGIL_TRANSPORT_OPTS="\
  -o smtp_data_done_timeout=1200
  -o smtp_send_xforward_command=yes
  -o disable_dns_lookups=yes
  -o max_use=20"
pf_setup "$PF" "$IN" "$R" "\
127.0.0.1:$SUB inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o content_filter=sigil-out:[127.0.0.1]:$S_OUT
sigil-in  unix  -       -       n       -       4       smtp
$SIGIL_TRANSPORT_OPTS
sigil-out unix  -       -       n       -       4       smtp
$SIGIL_TRANSPORT_OPTS" "\
content_filter = sigil-in:[127.0.0.1]:$S_IN
relay_domains =
$(pf_mailbox_conf "$PF")
smtputf8_enable = yes
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connect_timeout = 2s"
pf_start "$PF" "$IN" "$R"
wait_port "$SUB"

# ---------------------------------------------------------------- sigild
CFG="$E2E_DIR/sigil.toml"
IN_STAGES='"dkim-verify", "dkim-sign"' signing_config "$CFG" "$S_OUT" "$S_IN" "smtp:[127.0.0.1]:$R"
# The inbound listener verifies; the keys come from static_records (the
# resolver's air-gapped mode), the same records dkimpy checks against.
{
  printf '[dkim_verify]\nauthserv_id = "mx.e2e.test"\n[dns]\nstatic_records = [\n'
  while read -r name txt; do printf '  { name = "%s", txt = "%s" },\n' "$name" "$txt"; done <"$DNS"
  printf ']\n'
} >>"$CFG"
start_signing_sigild "$CFG" "$S_OUT" "$S_IN"
LOG="$E2E_DIR/sigild.log"

# ---------------------------------------------------------------- messages
# mkmsg NAME FROM [EXTRA_HEADER...] < body: $E2E_DIR/NAME.eml, CRLF lines,
# Message-ID <NAME@e2e.test>.
mkmsg() {
  local name=$1 from=$2 h
  shift 2
  {
    printf 'From: %s\r\nTo: <rcpt@example.net>\r\nSubject: postfix signing %s\r\n' "$from" "$name"
    printf 'Date: %s\r\nMessage-ID: <%s@e2e.test>\r\n' "$(LC_ALL=C date -R)" "$name"
    for h in "$@"; do printf '%s\r\n' "$h"; done
    printf '\r\n'
    sed 's/$/\r/'
  } >"$E2E_DIR/$name.eml"
}
send() {  # send NAME PORT ENVFROM [send.py options]
  local name=$1 port=$2 env=$3
  shift 3
  "$PY" "$E2E_DIR/send.py" "$port" "$env" rcpt@example.net "$E2E_DIR/$name.eml" "$@" \
    >"$E2E_DIR/$name.reply" 2>&1 || fail "sending $name to Postfix: $(cat "$E2E_DIR/$name.reply")"
}
# in_mailbox NAME: the mailbox files holding message NAME.
# in_mailbox ID: the delivered files of message ID, none while not delivered
# yet (grep exits 1 then; callers count the lines and bound the wait).
in_mailbox() { grep -l "^Message-ID: <$1@e2e.test>" "$MAILDIR"/* 2>/dev/null || true; }
mailbox_count() { find "$MAILDIR" -type f 2>/dev/null | wc -l; }

printf 'Hello from the submission port.\n-- \nAlice\n' |
  mkmsg out1 'Alice <alice@example.com>'
send out1 "$SUB" alice@example.com
printf 'Gr\xc3\xbc\xc3\x9fe.\n.leading dot\n..two dots\n.\ncaf\xc3\xa9 \xe2\x82\xac\n' |
  mkmsg out2 $'J\xc3\xb6rg <j\xc3\xb6rg@example.com>' 'MIME-Version: 1.0' \
    'Content-Type: text/plain; charset=utf-8' 'Content-Transfer-Encoding: 8bit'
send out2 "$SUB" $'j\xc3\xb6rg@example.com' --8bit --smtputf8
printf 'Claims to be from example.com, but arrives from outside.\n' |
  mkmsg in1 'Alice <alice@example.com>' 'Authentication-Results: mx.e2e.test; dkim=pass header.d=example.com'
send in1 "$IN" alice@example.com

mailbox_ge() { [ "$(mailbox_count)" -ge "$1" ]; }
until_true 45 mailbox_ge 3 || fail "only $(mailbox_count) of 3 messages reached the mailbox"
sleep 1  # room for a duplicate to show up
[ "$(mailbox_count)" -eq 3 ] || fail "mailbox holds $(mailbox_count) messages, want 3"
for m in out1 out2 in1; do
  [ "$(in_mailbox $m | grep -c .)" -eq 1 ] || fail "$m is in the mailbox $(in_mailbox $m | grep -c .) times"
done

# ---------------------------------------------------------------- originating: signed
for m in out1 out2; do
  f=$(in_mailbox $m)
  out=$("$PY" "$E2E_DIR/verify.py" "$DNS" "$f" "$E2E_DIR/$m.eml") || fail "verify.py $m: $out"
  echo "$out" >"$E2E_DIR/$m.verify"
  grep -q '^sigs=2 pass=2$' <<<"$out" || fail "$m: want 2 verifying signatures: $out"
  grep -q '^sig [01] d=example.com s=rsa2026 a=rsa-sha256 pass' <<<"$out" || fail "$m: rsa2026: $out"
  grep -q '^sig [01] d=example.com s=ed2026 a=ed25519-sha256 pass' <<<"$out" || fail "$m: ed2026: $out"
  grep -q '^body=same$' <<<"$out" || fail "$m: body changed on the way: $out"
done
pass "submitted on the originating smtpd: signed (RSA + Ed25519), both verify after re-injection and delivery"

n_out=$(summaries "$LOG" ' bank=out .*dkim="signed \(author rule example\.com\); d=example\.com s=rsa2026 a=rsa-sha256; d=example\.com s=ed2026 a=ed25519-sha256"')
[ "$n_out" -eq 2 ] || fail "sigild logged $n_out signed summary lines on bank out, want 2"

# ---------------------------------------------------------------- inbound: unsigned
f=$(in_mailbox in1)
! grep -qi '^DKIM-Signature:' "$f" || fail "in1 was signed: $(grep -i '^DKIM-Signature:' "$f")"
n_in=$(summaries "$LOG" ' bank=in .*dkim="unsigned: not originating"')
[ "$n_in" -eq 1 ] || fail "sigild logged $n_in 'not originating' lines on bank in, want 1"
[ "$(summaries "$LOG")" -eq 3 ] || fail "sigild logged $(summaries "$LOG") summary lines, want 3"
grep -q ' bank=in .*dkim_verify="none; removed 1 Authentication-Results claiming mx.e2e.test"' "$LOG" ||
  fail "sigild did not log the removed forged result for in1"
pass "received on the inbound smtpd: delivered unsigned, sigild says \"not originating\""

# ---------------------------------------------------------------- inbound: verified
# in1 was unsigned: dkim=none, and the forged result it carried is gone.
# our_ar FILE: our Authentication-Results fields of FILE, each unfolded on one line.
our_ar() {
  awk '/^$/ { exit } /^[^ \t]/ { if (p) print ""; p = tolower($0) ~ /^authentication-results: mx\.e2e\.test;/ }
       p { gsub(/[ \t]+/, " "); printf "%s", $0 } END { if (p) print "" }' "$1"
}
[ "$(our_ar "$f" | grep -c .)" -eq 1 ] ||
  fail "in1: want exactly one Authentication-Results of mx.e2e.test (the forged one removed): $(our_ar "$f")"
grep -q '^Authentication-Results: mx.e2e.test; dkim=none$' <<<"$(our_ar "$f")" ||
  fail "in1: want our Authentication-Results dkim=none: $(our_ar "$f")"
# out1 as delivered (signed by sigild, then through Postfix twice) comes back
# in on the inbound smtpd, unchanged but for the trace fields on top: both
# signatures verify there.  (Its Message-ID is signed, so the copy is found
# as the second file with that Message-ID.)
sed 's/$/\r/' "$(in_mailbox out1)" >"$E2E_DIR/back1.eml"
send back1 "$IN" alice@example.com
out1_twice() { [ "$(in_mailbox out1 | grep -c .)" -ge 2 ]; }
until_true 30 out1_twice || fail "out1's copy sent back in never reached the mailbox"
f=""
for g in $(in_mailbox out1); do
  grep -qi '^Authentication-Results: mx.e2e.test' "$g" && f=$g
done
[ -n "$f" ] || fail "the copy of out1 sent back in has no Authentication-Results of mx.e2e.test"
ar=$(our_ar "$f")
echo "back1: $ar"
grep -q 'dkim=pass (2048-bit key) header.d=example.com header.s=rsa2026' <<<"$ar" ||
  fail "back1: RSA signature not verified inbound: $ar"
grep -q 'dkim=pass .*header.s=ed2026 header.a=ed25519-sha256' <<<"$ar" ||
  fail "back1: Ed25519 signature not verified inbound: $ar"
pass "inbound: an unsigned message gets dkim=none (forged result removed); a signed one, relayed twice through Postfix, verifies (RSA and Ed25519)"

# ---------------------------------------------------------------- routes in Postfix's log
sent_via() { { grep -E "relay=127\.0\.0\.1\[127\.0\.0\.1\]:$1, .*status=sent" "$PF/maillog" || true; } | wc -l; }
[ "$(sent_via "$S_OUT")" -eq 2 ] || fail "maillog: $(sent_via "$S_OUT") deliveries to sigild :$S_OUT (out), want 2"
[ "$(sent_via "$S_IN")" -eq 2 ] || fail "maillog: $(sent_via "$S_IN") deliveries to sigild :$S_IN (in), want 2"
[ "$(grep -c 'status=sent (delivered to maildir)' "$PF/maillog")" -eq 4 ] || fail "maillog: want 4 mailbox deliveries"
pass "Postfix routed each message through its own transport and sigild listener, once"
