#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.dkim_verify — inbound verification and DKIM whitelisting through the
# relay: sigild (dkim-verify stage, keys from a real dnsmasq on a loopback
# port) between a Python SMTP client and smtp-sink.  Messages are signed by
# dkimpy (Debian's python3-dkim), RSA-2048 and Ed25519.
#
# Asserts, per message as captured by the sink and by sigild's summary line:
#   - a whitelisted author's validly signed message (RSA + Ed25519) gets one
#     Authentication-Results with dkim=pass for both, the bank's header
#     (X-Sigil-Whitelisted) and the bank's treatment (dkim-sign skipped), and
#     the summary names the rule, the signature and the bank;
#   - the same message with one body byte changed: dkim=fail, no bank;
#   - a third-party signature by a listed signer (author/@signer) whitelists;
#     the same signer for an unlisted author does not;
#   - a valid signature of a domain nobody listed: pass, no bank;
#   - an RSA-1024 key: pass, but whitelist_min_key_bits = 2048 keeps it out;
#   - a key that is not published: permerror; an unsigned message: none;
#   - an Authentication-Results claiming our authserv-id is removed, another
#     one is kept;
#   - every message is delivered exactly once;
#   - sigild's /metrics (docs/metrics.md) after the 8 messages:
#     sigil_dkim_whitelist_hits_total{bank="trusted"} = 2; DNS queries = 6
#     (the 6 distinct selectors), cache hits = 3 (wl-broken's two keys and
#     esp-unlisted's), no timeout, no SERVFAIL, none in flight; verify
#     results pass 6, fail 2, permerror 1, none 1; back-end 2xx replies = 8,
#     no connect failure, one connection kept for reuse; spool bytes 0.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

PY=/usr/bin/python3
"$PY" -c 'import dkim, nacl' 2>/dev/null ||
  fail "$PY cannot import dkim and nacl (packages python3-dkim, python3-nacl)"
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || fail "dnsmasq not installed (package dnsmasq-base)"
command -v openssl >/dev/null || fail "openssl is not installed"

cd "$E2E_DIR"
K="$E2E_DIR/keys"
mkdir -m 0700 "$K"
take_ports P_IN P_SINK DNS PM
METRICS_PORT=$PM  # metric, want_metric (relay_lib.sh)

# ---------------------------------------------------------------- keys + DNS
# p= of a PEM private key (RSA: SubjectPublicKeyInfo DER; Ed25519: the raw key).
txt_p() {
  openssl pkey -in "$1" -pubout -outform DER -out "$1.der" 2>/dev/null || fail "openssl pkey $1"
  if openssl pkey -in "$1" -noout -text 2>/dev/null | grep -q ED25519; then
    tail -c 32 "$1.der" | base64 -w0
  else
    base64 -w0 <"$1.der"
  fi
}
# dnsmasq takes a long record as comma-separated <=255-byte strings.
commas() { fold -w 255 | paste -sd, -; }
DNSARGS=()
key() {  # key NAME TYPE(rsa|ed25519) [BITS]: makes $K/NAME.pem and its DNS record
  local name=$1 type=$2 bits=${3:-2048} p k
  if [ "$type" = rsa ]; then
    openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:$bits" -out "$K/$name.pem" 2>/dev/null
  else
    openssl genpkey -algorithm ED25519 -out "$K/$name.pem" 2>/dev/null
  fi || fail "openssl genpkey $name"
  p=$(txt_p "$K/$name.pem")
  k=$type
  DNSARGS+=("--txt-record=$4,$(printf 'v=DKIM1; k=%s; p=%s' "$k" "$p" | commas)")
}
key trusted-rsa rsa 2048 rsa1._domainkey.trusted.example
key trusted-ed ed25519 0 ed1._domainkey.trusted.example
key esp rsa 2048 s1._domainkey.esp.example
key other rsa 2048 s1._domainkey.other.example
key small rsa 1024 s1._domainkey.small.example
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K/unpublished.pem" 2>/dev/null

# --local-ttl: answers with a TTL (dnsmasq's default 0 is never cached), so
# a selector asked twice is a cache hit, counted in the metrics below.
spawn dnsmasq "$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --port="$DNS" \
  --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts --local=/#/ \
  --user=root --pid-file="$E2E_DIR/dnsmasq.pid" --local-ttl=300 "${DNSARGS[@]}"
dns_up() { dns_answers "$DNS" rsa1._domainkey.trusted.example; }
until_true 10 dns_up || fail "dnsmasq does not answer on $DNS: $(cat "$E2E_DIR/dnsmasq.log")"

# ---------------------------------------------------------------- sigild
run_sink sink "$P_SINK"
CFG="$E2E_DIR/sigil.toml"
cat >"$CFG" <<EOF
[daemon]
allow_root = true              # the tests run as root (CI)
log_level = "info"
drain_timeout = 5
spool_dir = "$E2E_DIR"

[smtp]
hostname = "sigil.e2e.test"

[forward]
target = "smtp:[127.0.0.1]:$P_SINK"
connect_timeout = 5
reply_timeout = 30

[dns]
servers = ["127.0.0.1:$DNS"]
timeout_ms = 1000

[dkim_verify]
authserv_id = "mx.e2e.test"
whitelist_min_key_bits = 2048

[[listener]]
name = "in"
address = "127.0.0.1:$P_IN"
bank = "default"

# Inbound: verify, then the signing stage (which signs nothing here: the
# listener is not originating) stands for a check a trusted sender skips.
[bank.default]
stages = ["dkim-verify", "dkim-sign"]

[bank.trusted]
skip_stages = ["dkim-sign"]
add_header = ["X-Sigil-Whitelisted: yes"]

[[dkim_whitelist]]
match = ["trusted.example", "client.example/@esp.example", ".small.example"]
banks = ["trusted"]

[metrics]
address = "127.0.0.1:$PM"
EOF
"$SIGIL" check-config "$CFG" >check-config.out 2>&1 || fail "check-config: $(cat check-config.out)"
run_sigild sigild "$CFG" "$P_IN"
LOG="$E2E_DIR/sigild.log"

# ---------------------------------------------------------------- messages
# sign.py OUT IN SPEC...: signs IN with dkimpy, SPEC = KEYFILE:DOMAIN:SELECTOR
# (the last SPEC's signature on top); relaxed/relaxed; writes OUT.
cat >sign.py <<'PYEOF'
import base64, subprocess, sys, dkim
out, path, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
msg = open(path, "rb").read()
for spec in specs:
    keyfile, d, s = spec.split(":")
    kw = {}
    if keyfile.endswith("-ed.pem"):
        # dkimpy wants the raw 32-byte Ed25519 seed, base64.
        der = subprocess.run(["openssl", "pkey", "-in", keyfile, "-outform", "DER"],
                             capture_output=True, check=True).stdout
        key = base64.b64encode(der[-32:])
        kw["signature_algorithm"] = b"ed25519-sha256"
    else:
        # The traditional "RSA PRIVATE KEY" form, which every dkimpy reads.
        key = subprocess.run(["openssl", "rsa", "-in", keyfile, "-traditional"],
                             capture_output=True, check=True).stdout
    sig = dkim.sign(msg, s.encode(), d.encode(), key, canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[b"From", b"To", b"Subject", b"Date", b"Message-ID"], **kw)
    msg = sig + msg
open(out, "wb").write(msg)
PYEOF

mkmsg() {  # mkmsg NAME FROM [EXTRA_HEADER...]: unsigned $NAME.raw (CRLF)
  local name=$1 from=$2 h
  shift 2
  {
    for h in "$@"; do printf '%s\r\n' "$h"; done
    printf 'From: %s\r\nTo: <rcpt@example.net>\r\nSubject: verify %s\r\n' "$from" "$name"
    printf 'Date: %s\r\nMessage-ID: <%s@e2e.test>\r\n\r\n' "$(LC_ALL=C date -R)" "$name"
    printf 'Hello,\r\nthis is %s.\r\n' "$name"
  } >"$name.raw"
}

# send_msg (relay_lib.sh): a 60 s client timeout.
SEND_TIMEOUT=60

# check NAME WANT_AR_ERE WHITELISTED(yes|no) [SUMMARY_ERE]
check() {
  local name=$1 want=$2 wl=$3 extra=${4:-} f h ars line
  f=$(dump_of "$name")
  h=$(headers_of "$f")
  # A count: none is a value the next line rejects (grep -c exits 1 on 0).
  ars=$(grep -ciE '^Authentication-Results: mx\.e2e\.test;' <<<"$h" || true)
  [ "$ars" -eq 1 ] || fail "$name: $ars Authentication-Results for mx.e2e.test, want 1:
$h"
  grep -iE '^Authentication-Results: mx\.e2e\.test;' <<<"$h" | grep -qE -- "$want" ||
    fail "$name: Authentication-Results does not match '$want':
$(grep -i '^Authentication-Results' <<<"$h")"
  line=$(summary_of "$LAST_ID")
  if [ "$wl" = yes ]; then
    grep -q '^X-Sigil-Whitelisted: yes$' <<<"$h" || fail "$name: not whitelisted (no bank header):
$h"
    grep -q ' bank=default+trusted ' <<<"$line" || fail "$name: bank trusted not loaded: $line"
    grep -q 'dkim-sign:' <<<"$line" && fail "$name: the trusted bank should skip dkim-sign: $line"
    grep -q ' whitelist="rule 0 ' <<<"$line" || fail "$name: summary lacks the whitelist rule: $line"
  else
    grep -q '^X-Sigil-Whitelisted' <<<"$h" && fail "$name: whitelisted, but must not be:
$h"
    grep -q ' bank=default ' <<<"$line" || fail "$name: bank is not plain default: $line"
    grep -q 'dkim-sign:' <<<"$line" || fail "$name: dkim-sign should still run: $line"
  fi
  [ -z "$extra" ] || grep -qE -- "$extra" <<<"$line" || fail "$name: summary does not match '$extra': $line"
  echo "ok: $name: $(grep -iE '^Authentication-Results: mx' <<<"$h")"
}

# 1. Whitelisted author, RSA + Ed25519.
mkmsg wl-dual "Trusted <news@trusted.example>"
"$PY" sign.py wl-dual.eml wl-dual.raw "$K/trusted-rsa.pem:trusted.example:rsa1" \
  "$K/trusted-ed.pem:trusted.example:ed1" || fail "dkimpy signing failed"
send_msg "$P_IN" wl-dual.eml 250
check wl-dual 'dkim=pass .*header\.a=ed25519-sha256.*dkim=pass .*header\.a=rsa-sha256' yes \
  "whitelist=\"rule 0 'trusted.example' d=trusted.example s=ed1 -> trusted\""

# 2. The same with one body byte changed: both signatures fail, no bank.
sed 's/this is wl-dual/this is wl-duaL/; s/<wl-dual@/<wl-broken@/' wl-dual.eml >wl-broken.eml
send_msg "$P_IN" wl-broken.eml 250
check wl-broken 'dkim=fail .*dkim=fail ' no

# 3. Third-party signer esp.example for client.example (listed) ...
mkmsg esp-listed "<billing@client.example>"
"$PY" sign.py esp-listed.eml esp-listed.raw "$K/esp.pem:esp.example:s1"
send_msg "$P_IN" esp-listed.eml 250
check esp-listed 'dkim=pass .*header\.d=esp\.example' yes \
  "rule 0 'client.example/@esp.example' d=esp.example s=s1"
# ... and for an author nobody listed.
mkmsg esp-unlisted "<billing@stranger.example>"
"$PY" sign.py esp-unlisted.eml esp-unlisted.raw "$K/esp.pem:esp.example:s1"
send_msg "$P_IN" esp-unlisted.eml 250
check esp-unlisted 'dkim=pass .*header\.d=esp\.example' no

# 4. A valid signature nobody listed.
mkmsg other "<a@other.example>"
"$PY" sign.py other.eml other.raw "$K/other.pem:other.example:s1"
send_msg "$P_IN" other.eml 250
check other 'dkim=pass \(2048-bit key\).*header\.d=other\.example' no

# 5. A 1024-bit key: valid, listed (.small.example), but below whitelist_min_key_bits.
mkmsg small "<a@small.example>"
"$PY" sign.py small.eml small.raw "$K/small.pem:small.example:s1"
send_msg "$P_IN" small.eml 250
check small 'dkim=pass \(1024-bit key\)' no

# 6. A key that is not published: permerror.
mkmsg nokey "<a@trusted.example>"
"$PY" sign.py nokey.eml nokey.raw "$K/unpublished.pem:trusted.example:gone"
send_msg "$P_IN" nokey.eml 250
check nokey 'dkim=permerror .*header\.s=gone' no

# 7. Unsigned, carrying a forged result for our authserv-id and a foreign one.
mkmsg forged "<news@trusted.example>" \
  "Authentication-Results: MX.E2E.TEST; dkim=pass header.d=trusted.example" \
  "Authentication-Results: elsewhere.example; dkim=pass header.d=trusted.example"
cp forged.raw forged.eml
send_msg "$P_IN" forged.eml 250
check forged 'dkim=none' no 'removed 1 Authentication-Results claiming mx\.e2e\.test'
f=$(dump_of forged)
grep -q '^Authentication-Results: elsewhere.example; dkim=pass' "$f" ||
  fail "forged: the foreign Authentication-Results must stay: $(headers_of "$f")"
grep -qi 'dkim=pass header.d=trusted.example' <(grep -i '^Authentication-Results: mx' "$f") &&
  fail "forged: the forged result is still there"

n=$(dumps sink)
[ "$n" -eq 8 ] || fail "the sink holds $n messages, want 8 (each exactly once)"
pass "dkim-verify: A-R for pass/fail/permerror/none, whitelisting by author and third-party signer, key-size floor, forged A-R removed, 8 messages delivered once"

want_metric 2 sigil_dkim_whitelist_hits_total bank=trusted
# One packet per distinct selector; the three repeats come from the cache.
want_metric 6 sigil_dns_queries_total
want_metric 3 sigil_dns_cache_hits_total
want_metric 0 sigil_dns_timeouts_total
want_metric 0 sigil_dns_servfails_total
want_metric 0 sigil_dns_queries_in_flight
want_metric 6 sigil_dkim_verify_results_total result=pass
want_metric 2 sigil_dkim_verify_results_total result=fail
want_metric 1 sigil_dkim_verify_results_total result=permerror
want_metric 1 sigil_dkim_verify_results_total result=none
want_metric 8 sigil_backend_replies_total class=2xx
want_metric 0 sigil_backend_connect_failures_total
want_metric 1 sigil_backend_idle_connections
want_metric 0 sigil_spool_bytes
want_metric 0 sigil_pool_queued_jobs pool=crypto
pass "metrics: 2 whitelist hits, 6 DNS queries and 3 cache hits, 8 back-end 2xx replies"
