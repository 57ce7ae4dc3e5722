#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.milter_miltertest — the native milter listener (mode = "milter")
# driven by miltertest (Debian package miltertest, OpenDKIM's MTA
# simulator; Lua scripts in tests/e2e/milter/) and, for what miltertest
# cannot send, a raw-socket client (tests/e2e/milter_raw.py).  One sigild,
# one milter listener per bank:
#
#   sign    bank out (dkim-sign, originating; RSA relaxed/relaxed + Ed25519
#           simple/simple)
#   auth    bank plain (dkim-sign, not originating), auth_bank = authed
#           (originating)
#   verify  bank in (dkim-verify; keys from dnsmasq on loopback)
#   ban-*   bank ban_* (decode), banned destiny reject / tempfail / discard /
#           bounce / pass+quarantine with listener quarantine = hold / store
#
# smtp.max_message_size = 20000, max_recipients = 3, max_header_size = 16384
# (packet limit 65552).
#
# Asserts (details in each script's header):
#   1. sign.lua: default negotiation (v6: SMFIP_HDR_LEADSPC and the NR_*
#      steps taken, the four actions asked), two DKIM-Signature fields
#      inserted at 0 and 1, summary action=relayed with the exact size; the
#      message rebuilt as the MTA delivers it verifies with dkimpy for both
#      keys, header bytes with leading tabs, double/trailing spaces and
#      folds (LF and CRLF) included — and a one-byte whitespace change in a
#      signed field makes the simple/simple signature fail;
#   2. negotiate.lua: version 2 (every step answered, no LEADSPC: the
#      signature still verifies as "Name: value"), v6 without SMFIF_ADDHDRS
#      → 451 4.3.5, v6 with SMFIF_ADDHDRS only → signed;
#   3. session.lua: four messages on one connection, one aborted mid-body;
#      the next one's summary and signature cover only its own bytes;
#   4. banned.lua: reject 554 5.7.1 / tempfail 451 4.7.1 / SMFIR_DISCARD /
#      bounce → 554 / hold → SMFIR_QUARANTINE / store → quarantine file and
#      X-Quarantine-ID; exact replies and summary fields; with a banned-lover
#      recipient beside a rejected one, SMFIR_DELRCPT for the rejected and
#      a DSN to the sender in [forward]'s maildir (none from <>; the whole
#      message 451 when the DSN cannot be written);
#   5. verify.lua: a dkimpy-signed message gets Authentication-Results
#      dkim=pass inserted at 0, a forged one claiming our authserv-id is
#      deleted (index 2), the foreign one kept; a changed body: dkim=fail;
#   6. limits.lua: 552 5.3.4 at EOM above max_message_size, a reply code on
#      the 4th RCPT, {auth_authen} → bank plain+authed (signed);
#   7. milter_raw.py: a connection from 127.0.0.2, not in the sign
#      listener's milter_hosts (127.0.0.1/32), closed and logged before any
#      packet is read; zero length, length above the limit, a command before
#      OPTNEG, short OPTNEG, version 1, truncated CONNECT, bad family,
#      garbage, an unknown command, HEADER without a name, a connection
#      dropped mid-message: each closed and logged; a packet of exactly the
#      limit accepted; the 4th RCPT's reply is "452 4.5.3 ..."; deletions
#      come before insertions at EOM;
#   8. afterwards sigild is alive, a good run passes, no internal error was
#      logged, the start warned that DSNs go to [forward]'s maildir (the ban
#      banks scan), and SIGTERM stops it with status 0 (leaks fail an ASan
#      build).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
source "$(dirname "$0")/signing_lib.sh"

PY=/usr/bin/python3
"$PY" -c 'import dkim, nacl' 2>/dev/null ||
  fail "$PY cannot import dkim and nacl (packages python3-dkim, python3-nacl)"
MILTERTEST=$(command -v miltertest || echo /usr/bin/miltertest)
[ -x "$MILTERTEST" ] || fail "miltertest not installed (package miltertest)"
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || fail "dnsmasq not installed (package dnsmasq-base)"
command -v openssl >/dev/null || fail "openssl is not installed"

cd "$E2E_DIR" || exit 1
MT_DIR="$E2E_HERE/milter"
K="$E2E_DIR/keys"
OUT="$E2E_DIR/out"
mkdir -m 0700 "$K"
mkdir "$OUT" spool quarantine
take_ports P_SIGN P_AUTH P_VERIFY P_REJ P_TEMP P_DISC P_BOUNCE P_HOLD P_STORE DNS

# ---------------------------------------------------------------- keys + DNS
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K/rsa.pem" 2>/dev/null ||
  fail "openssl genpkey RSA"
openssl genpkey -algorithm ED25519 -out "$K/ed.pem" 2>/dev/null || fail "openssl genpkey ED25519"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K/trusted.pem" 2>/dev/null ||
  fail "openssl genpkey RSA"
chmod 600 "$K"/*.pem
# The signing keys reach dkimpy through a dnsfunc (verify.py); the key of the
# inbound message is published by dnsmasq, which sigild's resolver asks.
DNSFILE="$E2E_DIR/dns.txt"
{
  echo "rsa2026._domainkey.example.com v=DKIM1; k=rsa; p=$(txt_p "$K/rsa.pem")"
  echo "ed2026._domainkey.example.com v=DKIM1; k=ed25519; p=$(txt_p "$K/ed.pem")"
} >"$DNSFILE"
# dnsmasq takes a long record as comma-separated <=255-byte strings.
trusted_txt=$(printf 'v=DKIM1; k=rsa; p=%s' "$(txt_p "$K/trusted.pem")" | fold -w 255 | paste -sd, -)
spawn dnsmasq "$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --port="$DNS" \
  --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts --local=/#/ \
  --user=root --pid-file="$E2E_DIR/dnsmasq.pid" \
  "--txt-record=rsa1._domainkey.trusted.example,$trusted_txt"
dns_up() { dns_answers "$DNS" rsa1._domainkey.trusted.example; }
until_true 10 dns_up || fail "dnsmasq does not answer on $DNS: $(cat "$E2E_DIR/dnsmasq.log")"

# ---------------------------------------------------------------- sigild
CFG="$E2E_DIR/sigil.toml"
listener() {  # listener NAME PORT BANK [EXTRA]
  printf '[[listener]]\nname = "%s"\naddress = "127.0.0.1:%s"\nbank = "%s"\nmode = "milter"\n%s\n\n' \
    "$1" "$2" "$3" "${4:-}"
}
ban_bank() {  # ban_bank NAME DESTINY [EXTRA]
  printf '[bank.%s]\nstages = ["decode"]\ndestiny = { banned = "%s" }\n%s\n\n' "$1" "$2" "${3:-}"
}
{
  cat <<EOF
[daemon]
allow_root = true              # the tests run as root (CI)
log_level = "info"
drain_timeout = 5
spool_dir = "$E2E_DIR/spool"
crypto_threads = 1

[smtp]
hostname = "sigil.e2e.test"
max_message_size = 20000
max_recipients = 3
max_header_size = 16384

[forward]
target = "maildir:$E2E_DIR/maildir"

[quarantine]
dir = "$E2E_DIR/quarantine"

[dns]
servers = ["127.0.0.1:$DNS"]
timeout_ms = 1000

[dkim_verify]
authserv_id = "mx.e2e.test"

[[key]]
name = "ex-rsa"
file = "$K/rsa.pem"
domain = "example.com"
selector = "rsa2026"

[[key]]
name = "ex-ed"
file = "$K/ed.pem"
domain = "example.com"
selector = "ed2026"

[[signing]]
match = ["example.com"]
keys = ["ex-rsa"]
  [[signing.signature]]
  key = "ex-ed"
  canonicalization = "simple/simple"

[[recipient]]
match = ["postmaster@"]
lovers = ["banned"]

[bank.default]
stages = []

[bank.out]
stages = ["dkim-sign"]
originating = true

[bank.plain]
stages = ["dkim-sign"]
originating = false

[bank.authed]
originating = true

[bank.in]
stages = ["dkim-verify"]

EOF
  ban_bank ban_reject reject
  ban_bank ban_tempfail tempfail
  ban_bank ban_discard discard
  ban_bank ban_bounce bounce
  ban_bank ban_quarantine pass 'quarantine = ["banned"]'
  listener sign "$P_SIGN" out 'milter_hosts = ["127.0.0.1/32"]'
  listener auth "$P_AUTH" plain 'auth_bank = "authed"'
  listener verify "$P_VERIFY" in
  listener ban-reject "$P_REJ" ban_reject
  listener ban-tempfail "$P_TEMP" ban_tempfail
  listener ban-discard "$P_DISC" ban_discard
  listener ban-bounce "$P_BOUNCE" ban_bounce
  listener ban-hold "$P_HOLD" ban_quarantine 'quarantine = "hold"'
  listener ban-store "$P_STORE" ban_quarantine 'quarantine = "store"'
} >"$CFG"
"$SIGIL" check-config "$CFG" >check-config.out 2>&1 || fail "check-config: $(cat check-config.out)"
LOG="$E2E_DIR/sigild.log"
run_sigild sigild "$CFG" "$P_STORE"

# mtrun SCRIPT [-D NAME=VALUE]...: runs tests/e2e/milter/SCRIPT under
# miltertest (output in $E2E_DIR/SCRIPT.out); fails the test if it fails.
mtrun() {
  local script=$1 out="$E2E_DIR/${1%.lua}.out"
  shift
  "$MILTERTEST" -D HERE="$MT_DIR" -D LOG="$LOG" -D OUT="$OUT" -D QDIR="$E2E_DIR/quarantine" \
    -D MAILDIR="$E2E_DIR/maildir" \
    -D PORT_SIGN="$P_SIGN" -D PORT_AUTH="$P_AUTH" -D PORT_VERIFY="$P_VERIFY" \
    -D PORT_BAN_REJECT="$P_REJ" -D PORT_BAN_TEMPFAIL="$P_TEMP" -D PORT_BAN_DISCARD="$P_DISC" \
    -D PORT_BAN_BOUNCE="$P_BOUNCE" -D PORT_BAN_HOLD="$P_HOLD" -D PORT_BAN_STORE="$P_STORE" \
    -D SCRIPT="$script" "$@" -s "$MT_DIR/run.lua" >"$out" 2>&1 || fail "miltertest $script failed:
$(cat "$out")"
  grep -q "^ok: ${script}" "$out" || fail "miltertest $script did not finish: $(cat "$out")"
  is_alive "$sigild_PID" || fail "sigild died during $script"
}

# verify.py DNSFILE FILE...: every DKIM-Signature of each FILE (LF or CRLF
# lines; made CRLF) with dkimpy, keys from DNSFILE.  Prints per signature
# "FILE sig I s=S a=A c=C pass|FAIL", then "FILE sigs=N pass=P".
cat >verify.py <<'PYEOF'
import os, re, sys, dkim
dns = {}
for line in open(sys.argv[1], "rb"):
    name, txt = line.rstrip(b"\n").split(b" ", 1)
    dns[name.lower()] = txt
def dnsfunc(name, timeout=5):
    return dns.get(name.lower().rstrip(b"."))
for path in sys.argv[2:]:
    msg = open(path, "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    tag = os.path.basename(path)
    n = len(re.findall(rb"(?im)^dkim-signature:", msg.split(b"\r\n\r\n", 1)[0]))
    ok = 0
    for i in range(n):
        d = dkim.DKIM(msg)
        try:
            good, why = d.verify(idx=i, dnsfunc=dnsfunc), ""
        except Exception as e:
            good, why = False, repr(e)
        f = d.signature_fields or {}
        g = lambda k, dflt=b"?": f.get(k, dflt).decode()
        print("%s sig %d s=%s a=%s c=%s %s %s" % (tag, i, g(b"s"), g(b"a"), g(b"c", b"simple/simple"),
                                                 "pass" if good else "FAIL", why))
        ok += bool(good)
    print("%s sigs=%d pass=%d" % (tag, n, ok))
PYEOF
# verified OUTPUT FILE: FILE's two signatures (RSA relaxed/relaxed, Ed25519
# simple/simple) both pass in verify.py's OUTPUT.
verified() {
  local r
  r=$(grep "^$2 " <<<"$1" | cut -d' ' -f2-)
  grep -q '^sigs=2 pass=2$' <<<"$r" || fail "$2: want 2 verifying signatures: $r"
  grep -q '^sig [01] s=rsa2026 a=rsa-sha256 c=relaxed/relaxed pass' <<<"$r" ||
    fail "$2: no verifying rsa2026 relaxed/relaxed signature: $r"
  grep -q '^sig [01] s=ed2026 a=ed25519-sha256 c=simple/simple pass' <<<"$r" ||
    fail "$2: no verifying ed2026 simple/simple signature: $r"
}

# ---------------------------------------------------------------- 1. signing
mtrun sign.lua
pass "signing: negotiation, two DKIM-Signature fields inserted at 0 and 1, summary"

# ---------------------------------------------------------------- 2. negotiation
mtrun negotiate.lua
pass "negotiation: version 2 signed, no SMFIF_ADDHDRS → 451 4.3.5, SMFIF_ADDHDRS only → signed"

# ---------------------------------------------------------------- 3. one connection, abort
mtrun session.lua
pass "four messages on one connection, one aborted: sizes and senders are each message's own"

# ---------------------------------------------------------------- dkimpy over 1-3
# Negative control: the same signed message with one signed field's white
# space changed (Subject: a tab becomes a space) and one fold changed (To:).
sed 's/^Subject: \t  leading/Subject:    leading/' "$OUT/sign-v6.eml" >"$OUT/sign-v6-ws.eml"
sed 's/^   <carol@example.org>/ <carol@example.org>/' "$OUT/sign-v6.eml" >"$OUT/sign-v6-fold.eml"
cmp -s "$OUT/sign-v6.eml" "$OUT/sign-v6-ws.eml" && fail "the Subject edit changed nothing"
cmp -s "$OUT/sign-v6.eml" "$OUT/sign-v6-fold.eml" && fail "the To edit changed nothing"
vout=$("$PY" verify.py "$DNSFILE" "$OUT"/sign-v6.eml "$OUT"/sign-v2.eml "$OUT"/SESS1.eml \
  "$OUT"/SESS3.eml "$OUT"/SESS4.eml "$OUT"/sign-v6-ws.eml "$OUT"/sign-v6-fold.eml 2>&1) ||
  fail "verify.py: $vout"
echo "$vout" >verify.out
for f in sign-v6.eml sign-v2.eml SESS1.eml SESS3.eml SESS4.eml; do verified "$vout" "$f"; done
for f in sign-v6-ws.eml sign-v6-fold.eml; do
  grep -q "^$f sig [01] s=ed2026 a=ed25519-sha256 c=simple/simple FAIL" <<<"$vout" ||
    fail "$f: the simple/simple signature must fail once header white space changes: $vout"
  grep -q "^$f sig [01] s=rsa2026 a=rsa-sha256 c=relaxed/relaxed pass" <<<"$vout" ||
    fail "$f: the relaxed/relaxed signature must still pass: $vout"
done
pass "dkimpy: RSA relaxed and Ed25519 simple signatures of 5 milter messages verify as delivered; a white-space change breaks simple only"

# ---------------------------------------------------------------- 4. banned content
mtrun banned.lua
[ "$(find quarantine -type f | wc -l)" -eq 1 ] ||
  fail "quarantine holds $(find quarantine -type f | wc -l) files, want 1 (the store listener's)"
pass "banned x.pdf.exe: reject, tempfail, discard, bounce→reject, hold, store"

# ---------------------------------------------------------------- 5. DKIM verification
cat >sign.py <<'PYEOF'
import subprocess, sys, dkim
out, keyfile = sys.argv[1], sys.argv[2]
msg = (b"Authentication-Results: elsewhere.example; dkim=pass header.d=trusted.example\r\n"
       b"From: Trusted <news@trusted.example>\r\nTo: <bob@example.org>\r\n"
       b"Subject: verify through the milter\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
       b"Message-ID: <verify@e2e.test>\r\n"
       b"Authentication-Results: MX.E2E.TEST; dkim=pass header.d=trusted.example\r\n"
       b"\r\nHello,\r\nthis is the signed body.\r\n")
key = subprocess.run(["openssl", "rsa", "-in", keyfile, "-traditional"],
                     capture_output=True, check=True).stdout
sig = dkim.sign(msg, b"rsa1", b"trusted.example", key, canonicalize=(b"relaxed", b"relaxed"),
                include_headers=[b"From", b"To", b"Subject", b"Date", b"Message-ID"])
open(out, "wb").write(sig.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + msg)
PYEOF
"$PY" sign.py signed.eml "$K/trusted.pem" || fail "dkimpy signing failed"
mtrun verify.lua -D SIGNED="$E2E_DIR/signed.eml"
pass "dkim-verify: Authentication-Results dkim=pass inserted, forged one deleted, changed body fails"

# ---------------------------------------------------------------- 6. limits, SASL
mtrun limits.lua
pass "limits: 552 5.3.4 above max_message_size, 4th RCPT refused, {auth_authen} loads auth_bank"

# ---------------------------------------------------------------- 7. malformed input
"$PY" "$E2E_HERE/milter_raw.py" "$LOG" "$P_SIGN" "$P_VERIFY" >raw.out 2>&1 ||
  fail "milter_raw.py: $(cat raw.out)"
cat raw.out
is_alive "$sigild_PID" || fail "sigild died on malformed input"
pass "malformed input: each connection closed and logged, sigild up"

# ---------------------------------------------------------------- 8. still good
mtrun good.lua -D QID=AFTERRAW
vout=$("$PY" verify.py "$DNSFILE" "$OUT"/AFTERRAW.eml 2>&1) || fail "verify.py: $vout"
verified "$vout" AFTERRAW.eml
if grep -E 'internal error|AddressSanitizer|runtime error' "$LOG"; then
  fail "sigild logged an internal error"
fi
# [forward] is a maildir and the ban banks scan: the start warns that the
# DSNs of recipients bounced beside delivered ones stay there.
grep -q "warning sigild: milter listener sign: bank ban_[a-z]* scans, and the DSNs .* go through \[forward\] = maildir:" "$LOG" ||
  fail "sigild did not warn that a milter listener's DSNs go to [forward]'s maildir"
n=$(summaries "$LOG")
[ "$n" -eq 29 ] || fail "sigild logged $n summary lines, want 29 (one per finished message)"
kill -TERM "$sigild_PID"
wait_gone "$sigild_PID" 10 || fail "sigild did not stop on SIGTERM"
wait_rc "$sigild_PID"
keep=()
for p in "${E2E_PIDS[@]}"; do [ "$p" = "$sigild_PID" ] || keep+=("$p"); done
E2E_PIDS=("${keep[@]}")
[ "$WAIT_RC" -eq 0 ] || fail "sigild exited with status $WAIT_RC"
pass "milter listener: miltertest, dkimpy and malformed input; $n messages, sigild stopped cleanly"
