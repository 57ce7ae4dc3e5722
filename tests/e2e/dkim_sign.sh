#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.dkim_sign — the dkim-sign stage end to end: a client → sigild → smtp-sink,
# every signed message checked with dkimpy (python3-dkim, an independent
# verifier; one run over all of them at the end) against the public halves
# of the keys, fed through a dnsfunc (no DNS server).
#
# sigild has two listeners: `out` (bank out, originating = true) and `in`
# (bank in, originating = false), both with stages = ["dkim-sign"], one RSA
# (rsa2026) and one Ed25519 (ed2026) key for example.com, and the rule
# match = ["example.com", ".example.com"], keys = both.
#
# Asserts:
#   1. From: @example.com through `out`: two DKIM-Signatures (rsa-sha256 and
#      ed25519-sha256, d=example.com), both verify; the summary line says
#      dkim="signed (author rule ...); d=... s=rsa2026 ...; d=... s=ed2026 ...".
#   2. The same mail through `in`: no signature, dkim="unsigned: not originating".
#   3. From: @other.example through `out`: unsigned, "no signing rule for
#      author <...>"; with Sender: @example.com it is signed by the sender rule;
#      with only the envelope in .example.com, by the envelope rule.
#   4. Dot lines and an 8-bit body (BODY=8BITMIME) through `out`: both verify
#      after the dot-stuffing round trip and the body arrives byte for byte.
#   5. ~300 KB with memory_threshold = 65536 (signed from the spool file):
#      verifies, body intact.
#   6. XFORWARD PROTO=ESMTPA on `in`: signed (authenticated submission);
#      PROTO=ESMTP: unsigned.
#   7. SIGHUP with a key file made 0644, then with the key file corrupted:
#      "reload refused, keeping the running configuration" each time, and mail
#      is still signed with the running key (verifies against the old public
#      key).  Key restored + config changed (simple/simple, sign_if_signed =
#      false): reloaded; new signatures carry c=simple/simple and verify; a
#      message already carrying a d=example.com signature is left unsigned
#      with "already signed by d=example.com".
#   8. SMTPUTF8 (UTF-8 envelope and headers) through `out` of a second sigild
#      whose back-end is a maildir (smtp-sink offers no SMTPUTF8): verifies.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
source "$(dirname "$0")/signing_lib.sh"

# dkimpy is the system package: use the system interpreter, not whatever
# python3 comes first on PATH.
PY=/usr/bin/python3
"$PY" -c 'import dkim, nacl' 2>/dev/null ||
  fail "$PY cannot import dkim and nacl (packages python3-dkim, python3-nacl)"
command -v openssl >/dev/null || fail "openssl is not installed"

take_ports P_OUT P_IN P_SINK P_UTF
K="$E2E_DIR/keys"
mkdir -m 0700 "$K"

# ---------------------------------------------------------------- helpers
# send.py PORT FROM TO FILE [--8bit] [--smtputf8] [--xforward ATTR=VALUE]...
# Sends FILE (CRLF lines) as one message; prints "CODE TEXT" of the reply to
# the dot (smtplib dot-stuffs).  Exit 1 unless the dot got a 2xx.
cat >"$E2E_DIR/send.py" <<'PYEOF'
import smtplib, sys
port, frm, to, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
opts, xf, i = [], [], 5
while i < len(sys.argv):
    a = sys.argv[i]
    if a == "--8bit": opts.append("BODY=8BITMIME")
    elif a == "--smtputf8": opts.append("SMTPUTF8")
    elif a == "--xforward":
        i += 1
        xf.append(sys.argv[i])
    else: sys.exit("send.py: unknown option " + a)
    i += 1
data = open(path, "rb").read()
s = smtplib.SMTP("127.0.0.1", port, timeout=60)
s.ehlo("client.e2e.test")
for x in xf:
    code, text = s.docmd("XFORWARD", x)
    if code != 250: sys.exit("XFORWARD %s: %d %s" % (x, code, text.decode()))
code, text = s.mail(frm, opts)
if code != 250: sys.exit("MAIL: %d %s" % (code, text.decode()))
code, text = s.rcpt(to)
if code not in (250, 251): sys.exit("RCPT: %d %s" % (code, text.decode()))
code, text = s.data(data)
print(code, text.decode("utf-8", "replace"))
s.quit()
sys.exit(0 if 200 <= code < 300 else 1)
PYEOF

# verify.py DNSFILE LIST: checks every DKIM-Signature of each message named
# in LIST (lines "NAME<tab>CAPTURED<tab>SENT"; CAPTURED is a sink dump or a
# maildir file: LF lines, trace fields on top) with dkimpy, the public keys
# coming from DNSFILE ("name TXT-value" lines).  For each NAME it prints one
# line per signature, "NAME sig I d=D s=S a=A c=C pass|FAIL [why]", then
# "NAME sigs=N pass=P" and "NAME body=same|DIFFERENT" (CAPTURED's body against
# SENT's, trailing empty lines aside).  One process for all: importing dkim
# costs a second or more on a loaded machine.
cat >"$E2E_DIR/verify.py" <<'PYEOF'
import re, sys, dkim
dns = {}
for line in open(sys.argv[1], "rb"):
    name, txt = line.rstrip(b"\n").split(b" ", 1)
    dns[name.lower()] = txt
def dnsfunc(name, timeout=5):
    return dns.get(name.lower().rstrip(b"."))
def crlf(b):
    return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
def body(m):
    return m.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n")
for entry in open(sys.argv[2]):
    tag, captured, sent = entry.rstrip("\n").split("\t")
    msg = crlf(open(captured, "rb").read())
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
        c = f.get(b"c", b"simple").decode()  # RFC 6376 3.5: c= defaults to simple/simple
        c = c if "/" in c else c + "/simple"
        print("%s sig %d d=%s s=%s a=%s c=%s %s %s" % (tag, i, g(b"d"), g(b"s"), g(b"a"), c,
                                                     "pass" if good else "FAIL", why))
        ok += bool(good)
    print("%s sigs=%d pass=%d" % (tag, n, ok))
    same = body(msg) == body(crlf(open(sent, "rb").read()))
    print("%s body=%s" % (tag, "same" if same else "DIFFERENT"))
PYEOF


# ---------------------------------------------------------------- keys
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K/rsa.pem" 2>/dev/null ||
  fail "openssl genpkey RSA"
chmod 600 "$K/rsa.pem"
# The Ed25519 key by `sigil keys generate`; its record must carry the same
# p= as openssl derives.
"$SIGIL" keys generate --selector ed2026 --domain example.com --type ed25519 --out "$K/ed.pem" \
  >"$E2E_DIR/ed.record" 2>"$E2E_DIR/keygen.err" || fail "sigil keys generate: $(cat "$E2E_DIR/keygen.err")"
[ "$(stat -c %a "$K/ed.pem")" = 600 ] || fail "sigil keys generate wrote mode $(stat -c %a "$K/ed.pem")"
RSA_P=$(txt_p "$K/rsa.pem")
ED_P=$(txt_p "$K/ed.pem")
rec_p=$(grep -o '"[^"]*"' "$E2E_DIR/ed.record" | tr -d '"\n' | grep -oE 'p=[A-Za-z0-9+/=]+' | cut -c3-)
[ "$rec_p" = "$ED_P" ] || fail "sigil keys generate published p=$rec_p, openssl says $ED_P"
DNS="$E2E_DIR/dns.txt"
{
  echo "rsa2026._domainkey.example.com v=DKIM1; k=rsa; p=$RSA_P"
  echo "ed2026._domainkey.example.com v=DKIM1; k=ed25519; p=$ED_P"
} >"$DNS"
cp -p "$K/rsa.pem" "$K/rsa.pem.orig"

# ---------------------------------------------------------------- sigild

run_sink sink "$P_SINK"
CFG="$E2E_DIR/sigil.toml"
signing_config "$CFG" "$P_OUT" "$P_IN" "smtp:[127.0.0.1]:$P_SINK"
start_signing_sigild "$CFG" "$P_OUT" "$P_IN"
LOG="$E2E_DIR/sigild.log"

# ---------------------------------------------------------------- message helpers
# mkmsg NAME FROM [EXTRA_HEADER...] < body: writes $E2E_DIR/NAME.eml (CRLF),
# Message-ID <NAME@e2e.test>.
mkmsg() {
  local name=$1 from=$2 h
  shift 2
  {
    printf 'From: %s\r\n' "$from"
    printf 'To: <rcpt@example.net>\r\n'
    printf 'Subject: dkim e2e %s\r\n' "$name"
    printf 'Date: %s\r\n' "$(LC_ALL=C date -R)"
    printf 'Message-ID: <%s@e2e.test>\r\n' "$name"
    for h in "$@"; do printf '%s\r\n' "$h"; done
    printf '\r\n'
    sed 's/$/\r/'
  } >"$E2E_DIR/$name.eml"
}
plain_body() { printf 'Hello,\nthis is %s.\n-- \nsig\n' "$1"; }

# send NAME PORT ENVFROM [send.py options]: sends NAME.eml; LAST_ID = sigild's
# log id from the reply to the dot.
send() {
  local name=$1 port=$2 env=$3
  shift 3
  "$PY" "$E2E_DIR/send.py" "$port" "$env" rcpt@example.net "$E2E_DIR/$name.eml" "$@" \
    >"$E2E_DIR/$name.reply" 2>&1 || fail "sending $name: $(cat "$E2E_DIR/$name.reply")"
  LAST_ID=$(grep -oE '^2[0-9][0-9] [0-9.]+ [0-9A-Z]{12} ' "$E2E_DIR/$name.reply" | awk '{print $3}')
  [ -n "$LAST_ID" ] || fail "no sigild log id in the reply to $name: $(cat "$E2E_DIR/$name.reply")"
}

# check_signed NAME [DIR] [WANT_C]: NAME arrived once, with two
# DKIM-Signature fields, and sigild's summary line lists the RSA and the
# Ed25519 signature of example.com.  dkimpy checks it later (verify_all): both
# signatures verify, the body arrived unchanged and, with WANT_C, both carry
# c=WANT_C.
TO_VERIFY="$E2E_DIR/to-verify"
: >"$TO_VERIFY"
check_signed() {
  local name=$1 dir=${2:-$E2E_DIR/sink} want_c=${3:-} f n line
  f=$(dump_of "$name" "$dir")
  n=$(awk '/^$/ { exit } tolower($0) ~ /^dkim-signature:/ { n++ } END { print n + 0 }' "$f")
  [ "$n" -eq 2 ] || fail "$name arrived with $n DKIM-Signature fields, want 2"
  line=$(summary_of "$LAST_ID")
  grep -qF 'd=example.com s=rsa2026 a=rsa-sha256; d=example.com s=ed2026 a=ed25519-sha256"' <<<"$line" ||
    fail "$name: summary line does not list both signatures: $line"
  grep -q ' action=relayed ' <<<"$line" || fail "$name: not relayed: $line"
  printf '%s\t%s\t%s\n' "$name" "$f" "$E2E_DIR/$name.eml" >>"$TO_VERIFY"
  [ -z "$want_c" ] || echo "$name $want_c" >>"$TO_VERIFY.c"
}

# verify_all: dkimpy over every message check_signed queued.
verify_all() {
  local out name c r n
  out=$("$PY" "$E2E_DIR/verify.py" "$DNS" "$TO_VERIFY" 2>&1) || fail "verify.py: $out"
  echo "$out" >"$E2E_DIR/verify.out"
  n=0
  while IFS=$'\t' read -r name _ _; do
    r=$(grep "^$name " <<<"$out" | cut -d' ' -f2-)
    grep -q '^sigs=2 pass=2$' <<<"$r" || fail "$name: want 2 verifying signatures: $r"
    grep -q '^sig [01] d=example.com s=rsa2026 a=rsa-sha256 .* pass' <<<"$r" ||
      fail "$name: no verifying rsa2026 signature: $r"
    grep -q '^sig [01] d=example.com s=ed2026 a=ed25519-sha256 .* pass' <<<"$r" ||
      fail "$name: no verifying ed2026 signature: $r"
    grep -q '^body=same$' <<<"$r" || fail "$name: body changed on the way: $r"
    # No c= recorded for NAME means "any canonicalization"; an empty value is
    # the answer, not an error.
    c=$(awk -v m="$name" '$1 == m { print $2 }' "$TO_VERIFY.c" 2>/dev/null || true)
    if [ -n "$c" ]; then
      [ "$(grep -c "^sig .* c=$c pass" <<<"$r")" -eq 2 ] || fail "$name: want c=$c: $r"
    fi
    n=$((n + 1))
  done <"$TO_VERIFY"
  VERIFIED=$n
}

# check_unsigned NAME WHY [DIR]: NAME arrived without a DKIM-Signature and its
# summary line carries dkim="unsigned: WHY..." (WHY is a fixed string).
check_unsigned() {
  local name=$1 why=$2 dir=${3:-$E2E_DIR/sink} f line
  f=$(dump_of "$name" "$dir")
  ! grep -qi '^DKIM-Signature:' "$f" || fail "$name was signed: $(grep -i '^DKIM-Signature:' "$f")"
  line=$(summary_of "$LAST_ID")
  grep -qF "dkim=\"unsigned: $why" <<<"$line" || fail "$name: want dkim=\"unsigned: $why...\": $line"
  grep -q ' action=relayed ' <<<"$line" || fail "$name: not relayed: $line"
}

# ---------------------------------------------------------------- 1. out: dual signature
plain_body m1 | mkmsg m1 'Alice <alice@example.com>'
send m1 "$P_OUT" alice@example.com
check_signed m1
line=$(summary_of "$LAST_ID")
grep -qF 'dkim="signed (author rule example.com); d=example.com s=rsa2026 a=rsa-sha256; d=example.com s=ed2026 a=ed25519-sha256"' <<<"$line" ||
  fail "m1: unexpected dkim note: $line"
grep -q ' bank=out ' <<<"$line" || fail "m1: not through bank out: $line"
pass "From: @example.com through out: RSA + Ed25519 signatures"

# ---------------------------------------------------------------- 2. in: not originating
plain_body m2 | mkmsg m2 'Alice <alice@example.com>'
send m2 "$P_IN" alice@example.com
check_unsigned m2 'not originating'
pass "the same mail through in: unsigned, \"not originating\""

# ---------------------------------------------------------------- 3. rule selection
plain_body m3 | mkmsg m3 'Bob <bob@other.example>'
send m3 "$P_OUT" bob@other.example
check_unsigned m3 'no signing rule for author <bob@other.example>'
pass "From: @other.example through out: unsigned, \"no signing rule\""

plain_body m3s | mkmsg m3s 'Bob <bob@other.example>' 'Sender: <secretary@example.com>'
send m3s "$P_OUT" bob@other.example
check_signed m3s
summary_of "$LAST_ID" | grep -qF 'dkim="signed (sender rule example.com);' ||
  fail "m3s: want the sender rule: $(summary_of "$LAST_ID")"
plain_body m3e | mkmsg m3e 'Bob <bob@other.example>'
send m3e "$P_OUT" bounces@lists.example.com
check_signed m3e
summary_of "$LAST_ID" | grep -qF 'dkim="signed (envelope rule .example.com);' ||
  fail "m3e: want the envelope rule: $(summary_of "$LAST_ID")"
pass "Sender: then the envelope sender pick the rule when From has none"

# ---------------------------------------------------------------- 4. dots, 8-bit body
{
  printf '.leading dot\n..two dots\n.\n. dot space\nmiddle\n...\n'
  printf 'caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9e \xe2\x82\xac 8-bit\n'
  printf 'trailing spaces   \n\ttab line\n\n\nlast\n'
} | mkmsg m4 'Alice <alice@example.com>' 'MIME-Version: 1.0' \
  'Content-Type: text/plain; charset=utf-8' 'Content-Transfer-Encoding: 8bit'
send m4 "$P_OUT" alice@example.com --8bit
check_signed m4
grep -q '^\.leading dot$' "$(dump_of m4)" || fail "m4: the dot line arrived changed"
pass "dot lines and an 8-bit body (BODY=8BITMIME): signed, dot lines intact"

# ---------------------------------------------------------------- 5. large, from the spool
{
  for i in $(seq 4000); do
    printf 'line %05d of a large message, long enough to make it about 300 KB in all..\n' "$i"
    [ $((i % 500)) -eq 0 ] && printf '.dot line %d\n' "$i"
  done
} | mkmsg m6 'Alice <alice@example.com>'
[ "$(stat -c %s "$E2E_DIR/m6.eml")" -gt 250000 ] || fail "m6 is only $(stat -c %s "$E2E_DIR/m6.eml") bytes"
send m6 "$P_OUT" alice@example.com
check_signed m6
size=$(summary_of "$LAST_ID" | grep -oE ' size=[0-9]+ ' | tr -dc 0-9)
[ "$size" -gt 65536 ] || fail "m6: summary says size=$size, not above memory_threshold"
pass "$size-byte message (memory_threshold 65536, spooled): signed"

# ---------------------------------------------------------------- 6. XFORWARD PROTO on in
plain_body m7a | mkmsg m7a 'Alice <alice@example.com>'
send m7a "$P_IN" alice@example.com --xforward PROTO=ESMTPA --xforward NAME=mua.e2e.test --xforward ADDR=192.0.2.7
check_signed m7a
plain_body m7b | mkmsg m7b 'Alice <alice@example.com>'
send m7b "$P_IN" alice@example.com --xforward PROTO=ESMTP --xforward NAME=mta.e2e.test --xforward ADDR=192.0.2.8
check_unsigned m7b 'not originating'
pass "XFORWARD PROTO=ESMTPA on in: signed; PROTO=ESMTP: unsigned"

# ---------------------------------------------------------------- 7. SIGHUP with a broken key
refused() { summaries_of_reload 'reload refused, keeping the running configuration'; }
# grep -c prints 0 and exits 1 when nothing matches; the count is the result.
summaries_of_reload() { { grep -cF -- "$1" "$LOG" || true; }; }
reloaded() { summaries_of_reload 'configuration reloaded from'; }

count_gt() { [ "$($1)" -gt "$2" ]; }  # count_gt COUNTER N: COUNTER prints more than N

hup_expect() {  # hup_expect refused|reloaded
  local what=$1 before
  before=$($what)
  kill -HUP "$sigild_PID"
  # count_gt re-counts on every try ("test $($what) ..." would count once,
  # when until_true is called, and race the reload).
  until_true 10 count_gt "$what" "$before" || fail "SIGHUP: no '$what' line in the log"
  is_alive "$sigild_PID" || fail "sigild died on SIGHUP"
}

chmod 644 "$K/rsa.pem"
hup_expect refused
grep -A3 'reload refused' "$LOG" | grep -q 'rsa.pem' ||
  fail "the refusal does not name the key file: $(grep -A3 'reload refused' "$LOG")"
plain_body m8a | mkmsg m8a 'Alice <alice@example.com>'
send m8a "$P_OUT" alice@example.com
check_signed m8a
pass "SIGHUP with the key file 0644: reload refused, mail still signed"

chmod 600 "$K/rsa.pem"
printf -- '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n' >"$K/rsa.pem"
hup_expect refused
plain_body m8b | mkmsg m8b 'Alice <alice@example.com>'
send m8b "$P_OUT" alice@example.com
check_signed m8b
pass "SIGHUP with the key file corrupted: reload refused, still signed with the running key"

cp -p "$K/rsa.pem.orig" "$K/rsa.pem"
signing_config "$CFG" "$P_OUT" "$P_IN" "smtp:[127.0.0.1]:$P_SINK" \
  'canonicalization = "simple/simple"
sign_if_signed = false'
hup_expect reloaded
plain_body m8c | mkmsg m8c 'Alice <alice@example.com>'
send m8c "$P_OUT" alice@example.com
check_signed m8c "" simple/simple
plain_body m8d | mkmsg m8d 'Alice <alice@example.com>' \
  'DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=old; h=from; bh=AAAA; b=AAAA'
send m8d "$P_OUT" alice@example.com
f=$(dump_of m8d)
[ "$(grep -ci '^DKIM-Signature:' "$f")" -eq 1 ] || fail "m8d: sigild added a signature though sign_if_signed = false"
summary_of "$LAST_ID" | grep -qF 'dkim="unsigned: already signed by d=example.com"' ||
  fail "m8d: want \"already signed\": $(summary_of "$LAST_ID")"
pass "key fixed, config changed: reloaded; signed again, sign_if_signed = false honoured"

# ---------------------------------------------------------------- 8. SMTPUTF8 (maildir back-end)
MD="$E2E_DIR/maildir"
CFG2="$E2E_DIR/sigil-utf8.toml"
# This sigild signs on its event-loop thread (crypto_threads = 0), the first
# one on its crypto pool: both paths make verifying signatures.
CRYPTO_THREADS=0 signing_config "$CFG2" "$P_UTF" "" "maildir:$MD"
sed -i "s|^spool_dir = .*|spool_dir = \"$E2E_DIR/spool2\"|" "$CFG2"
mkdir -p "$E2E_DIR/spool2"
run_sigild sigild_utf8 "$CFG2" "$P_UTF"
LOG="$E2E_DIR/sigild_utf8.log"
printf 'Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln.\n.punkt am Zeilenanfang\n' |
  mkmsg m5 $'J\xc3\xb6rg M\xc3\xbcller <j\xc3\xb6rg@example.com>' \
    $'Reply-To: \xe2\x9c\x89 Gr\xc3\xbc\xc3\x9fe <b\xc3\xbcro@example.com>' 'MIME-Version: 1.0' \
    'Content-Type: text/plain; charset=utf-8' 'Content-Transfer-Encoding: 8bit'
grep -q $'^From: J\xc3\xb6rg' "$E2E_DIR/m5.eml" || fail "m5 has no UTF-8 From"
send m5 "$P_UTF" $'j\xc3\xb6rg@example.com' --8bit --smtputf8
check_signed m5 "$MD/new"
summary_of "$LAST_ID" | grep -qF 'dkim="signed (author rule example.com);' ||
  fail "m5: want the author rule: $(summary_of "$LAST_ID")"
pass "SMTPUTF8 message (UTF-8 envelope and headers): signed"

# ---------------------------------------------------------------- 9. dkimpy verdicts
verify_all
pass "dkimpy: both signatures of all $VERIFIED signed messages verify, bodies intact (m8c: c=simple/simple)"

LOG="$E2E_DIR/sigild.log"
[ "$(dumps sink)" -eq 13 ] || fail "sink holds $(dumps sink) messages, want 13"
[ "$(summaries "$LOG")" -eq 13 ] || fail "sigild logged $(summaries "$LOG") summary lines, want 13"
pass "13 messages through smtp-sink, one summary line each"
