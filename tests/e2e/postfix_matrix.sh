#!/usr/bin/env bash
# shellcheck disable=SC2154,SC2153  # NAME_PID (spawn) and the ports (take_ports) are set by printf -v
# e2e.postfix_matrix_{after_queue,proxy,milter} — Sigil wired into a real,
# private Postfix (postfix_lib.sh: `postfix -c DIR`, loopback ports chosen
# at run time) in the mode given as the argument:
#
#   bash tests/e2e/postfix_matrix.sh after-queue|proxy|milter
#
# One Postfix instance and one sigild serve three uses, each through its own
# Postfix smtpd port wired to its own sigild listener and bank:
#
#   sign    smtpd :SIGN_IN → sigild `sign` (bank sign: dkim-sign, originating)
#   verify  smtpd :VER_IN  → sigild `verify` (bank verify: dkim-verify;
#           [[dkim_whitelist]] trusted.example → bank trusted, which adds
#           X-Sigil-Whitelisted: yes)
#   scan    smtpd :SCAN_IN → sigild `scan` (bank scan: decode + av (clamd),
#           destiny banned = reject, virus = tempfail, unchecked = bounce)
#
# a re-injection smtpd (no milters) for what Sigil sends on or bounces,
# and final delivery by virtual(8): example.net into the Maildir mail/rcpt/,
# example.org (the senders, where bounces go) into mail/back/.  Peers: a
# dnsmasq on loopback publishing example.com's signing keys (RSA-2048 and
# Ed25519) and the outside signer trusted.example's keys; a clamd with a
# database built here (EICAR); dkimpy and Mail::DKIM as verifiers.
#
# Asserts, per mode:
#   1. sign: mail from example.com is delivered once with an RSA and an
#      Ed25519 DKIM-Signature that dkimpy verifies (keys by a dnsfunc) and
#      whose RSA one Mail::DKIM verifies (Net::DNS resolver to the dnsmasq).
#   2. verify: a message signed (RSA + Ed25519) by trusted.example gets
#      Authentication-Results dkim=pass for both and X-Sigil-Whitelisted: yes;
#      the same message with its body changed gets dkim=fail and no switch;
#      an unsigned one dkim=none and no switch.
#   3. scan: a clean message is delivered; `x.pdf.exe` (plain and zipped) is
#      banned → reject, an encrypted zip is unchecked → bounce, EICAR is a
#      virus → tempfail.  proxy and milter: the sending client gets
#      `554 5.7.1` (reject, and bounce, which becomes a reject) and
#      `451 4.7.1` (tempfail) in its SMTP session; after-queue: the client got
#      250 from Postfix, so the reject comes back as Postfix's bounce
#      (a DSN from MAILER-DAEMON quoting Sigil's 554 5.7.1), the bounce as
#      Sigil's own DSN (Reporting-MTA sigil.e2e.test), and the tempfail stays
#      deferred in Postfix's queue (`postqueue -j`, reason 451 4.7.1).
#      Recipients that differ (a banned-lover beside a plain one): the client
#      gets 250, the lover's copy is delivered once, and the other recipient
#      is bounced with Sigil's DSN through the re-injection smtpd in every
#      mode (milter: SMFIR_DELRCPT, the DSN through [forward]).
#   4. every accepted message is delivered exactly once and carries Sigil's
#      mark (signature / Authentication-Results / the scan bank's
#      X-Sigil-Scanned), no refused one is delivered;
#   5. stopping Sigil mid-load loses nothing: two rounds of 42 messages over
#      the three ports (6 connections, paced), sigild stopped with SIGTERM
#      (round 1) and SIGKILL (round 2) once 6 are done and a scan message is
#      in its pipeline (clamd is reached through a relay that holds each scan
#      1 s), restarted 2 s later;
#      once Postfix's queue is empty: every message the client got 250 for is
#      delivered exactly once, with Sigil's mark (after SIGKILL, one Postfix
#      saw cut after the end of DATA may be delivered twice: sigild can die
#      after the back-end took it and before its own 250, RFC 1047; a
#      duplicate, never a loss); every one refused (4xx/5xx)
#      is not delivered.  after-queue: Postfix accepts all and retries;
#      proxy: the client gets 4xx while Sigil is down; milter: Postfix's
#      milter_default_action = tempfail gives 451.
#   6. the delivered header section of the signed message, top down:
#      milter: virtual(8)'s Return-Path, X-Original-To, Delivered-To; Sigil's
#      two DKIM-Signatures; Postfix's own Received: (smtpd's; the milter never
#      sees it, and an insert at index 0 lands above it); then the header
#      section exactly as sent: nothing else is added or changed after the
#      milter (cleanup's own edits, e.g. a missing Message-ID or Date for a
#      local client, come before it and the milter sees them).
#      after-queue and proxy: the same with the second smtpd's Received:
#      (re-injection / after-filter) above the signatures.
#
# ------------------------------------------------------------------------
# The Postfix recipes (production ports: Sigil's listener 10024, Postfix's
# re-injection / after-filter smtpd 10025; the test uses free ports and one
# smtpd per use instead of port 25, and adds its retry timers, final
# delivery and maillog_file to main.cf).
#
# after-queue (mode = "after-queue", the default):
#   main.cf:
#     content_filter = sigil:[127.0.0.1]:10024
#   master.cf:
#     sigil     unix  -       -       n       -       4       smtp
#       -o smtp_data_done_timeout=1200
#       -o smtp_send_xforward_command=yes
#       -o disable_dns_lookups=yes
#       -o max_use=20
#     127.0.0.1:10025 inet n  -       n       -       -       smtpd
#       -o content_filter=
#       -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
#       -o smtpd_helo_restrictions=
#       -o smtpd_client_restrictions=
#       -o smtpd_sender_restrictions=
#       -o smtpd_relay_restrictions=
#       -o smtpd_recipient_restrictions=permit_mynetworks,reject
#       -o mynetworks=127.0.0.0/8
#       -o smtpd_authorized_xforward_hosts=127.0.0.0/8
#   sigil.toml:
#     [forward]
#     target = "smtp:[127.0.0.1]:10025"
#     [[listener]]
#     address = "127.0.0.1:10024"
#   (Per entrance instead of main.cf: `-o content_filter=sigil:[127.0.0.1]:PORT`
#   on that smtpd, as this test does for its three uses.)
#
# proxy (mode = "proxy"):
#   main.cf: no content_filter.
#   master.cf:
#     smtp      inet  n       -       n       -       20      smtpd
#       -o smtpd_proxy_filter=127.0.0.1:10024
#       -o smtpd_proxy_timeout=100s
#       -o smtpd_proxy_options=speed_adjust
#       -o smtpd_client_connection_count_limit=10
#     127.0.0.1:10025 inet n  -       n       -       -       smtpd
#       -o smtpd_authorized_xforward_hosts=127.0.0.0/8
#       -o smtpd_client_restrictions=
#       -o smtpd_helo_restrictions=
#       -o smtpd_sender_restrictions=
#       -o smtpd_relay_restrictions=
#       -o smtpd_recipient_restrictions=permit_mynetworks,reject
#       -o smtpd_data_restrictions=
#       -o mynetworks=127.0.0.0/8
#       -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
#   sigil.toml:
#     [forward]
#     target = "smtp:[127.0.0.1]:10025"
#     [[listener]]
#     address = "127.0.0.1:10024"
#     mode = "proxy"
#     peer_timeout = 100     # = smtpd_proxy_timeout
#     # budget = 90          # the default, peer_timeout - 10
#   While sigild is down or draining, smtpd answers the client
#   `451 4.3.0 Error: queue file write error` (it connects to the proxy
#   after the data, speed_adjust) and queues nothing; a message in Sigil's
#   pipeline when sigild dies gets the same 451 (maillog: "lost connection
#   with proxy").  (Not avoidable before the queue: if sigild dies between
#   the after-filter smtpd's 250 and its own reply, the client is told 451
#   and the message is queued anyway: a duplicate on retry, never a loss.)
#
# milter (mode = "milter"):
#   main.cf:
#     smtpd_milters = inet:127.0.0.1:10024
#     non_smtpd_milters = $smtpd_milters
#     milter_default_action = tempfail
#     milter_protocol = 6
#   master.cf: nothing (no re-injection smtpd: Postfix queues the message
#   itself, with Sigil's header edits).
#   sigil.toml:
#     [[listener]]
#     address = "127.0.0.1:10024"
#     mode = "milter"
#     # peer_timeout = 300   # the default in this mode: milter_content_timeout
#     # budget = 290         # the default, peer_timeout - 10
#   While sigild is down: `451 4.7.1 Service unavailable - try again later`
#   (milter_default_action = tempfail), at MAIL for a session that could not
#   reach the milter at connect, at the end of DATA for a message in Sigil's
#   pipeline when sigild dies; nothing is queued unfiltered.
#   (Per entrance instead of main.cf: `-o smtpd_milters=inet:127.0.0.1:PORT`.)
# ------------------------------------------------------------------------
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
source "$(dirname "$0")/postfix_lib.sh"
source "$(dirname "$0")/signing_lib.sh"

MODE=${1:-}
case "$MODE" in
  after-queue | proxy | milter) ;;
  *) fail "usage: postfix_matrix.sh after-queue|proxy|milter (got '$MODE')" ;;
esac

pf_require
PY=/usr/bin/python3
"$PY" -c 'import dkim, nacl' 2>/dev/null ||
  fail "$PY cannot import dkim and nacl (packages python3-dkim, python3-nacl)"
perl -MMail::DKIM::Verifier -MNet::DNS -e 1 2>/dev/null ||
  fail "perl cannot load Mail::DKIM and Net::DNS (libmail-dkim-perl, libnet-dns-perl)"
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || fail "dnsmasq not installed (package dnsmasq-base)"
CLAMD=$(command -v clamd || echo /usr/sbin/clamd)
[ -x "$CLAMD" ] || fail "clamd not installed (package clamav-daemon)"
command -v sigtool >/dev/null || fail "sigtool not installed (package clamav)"
command -v zip >/dev/null || fail "zip not installed"
command -v openssl >/dev/null || fail "openssl is not installed"

CLIENT="$E2E_HERE/postfix_matrix.py"
take_ports SIGN_IN VER_IN SCAN_IN R S_SIGN S_VER S_SCAN DNS CLAM SLOW
cd "$E2E_DIR"  # after take_ports: lib.sh may name ports.py by a relative path
K="$E2E_DIR/keys"
mkdir -m 0700 "$K"
RES="$E2E_DIR/results"  # "NAME STEP CODE TEXT" per message, for the audit
MARKS="$E2E_DIR/marks"  # Sigil's mark per use (audit)
: >"$RES"
cat >"$MARKS" <<'EOF'
sign ^DKIM-Signature:.* d=example\.com;
r1-sign ^DKIM-Signature:.* d=example\.com;
r2-sign ^DKIM-Signature:.* d=example\.com;
ver ^Authentication-Results: mx\.e2e\.test;
r1-ver ^Authentication-Results: mx\.e2e\.test;.*dkim=pass
r1-ver ^X-Sigil-Whitelisted: yes$
r2-ver ^Authentication-Results: mx\.e2e\.test;.*dkim=pass
r2-ver ^X-Sigil-Whitelisted: yes$
scan ^X-Sigil-Scanned: yes$
r1-scan ^X-Sigil-Scanned: yes$
r2-scan ^X-Sigil-Scanned: yes$
EOF

# ================================================================ keys + DNS
commas() { fold -w 255 | paste -sd, -; }  # dnsmasq: long TXT as <=255-byte strings
DNSFILE="$E2E_DIR/dns.txt"                # the same records for dkimpy's dnsfunc
: >"$DNSFILE"
DNSARGS=()
key() {  # key FILE rsa|ed25519 RECORD-NAME
  local file=$1 type=$2 name=$3 txt
  if [ "$type" = rsa ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$file" 2>/dev/null
  else
    openssl genpkey -algorithm ED25519 -out "$file" 2>/dev/null
  fi || fail "openssl genpkey $file"
  chmod 600 "$file"
  txt="v=DKIM1; k=$type; p=$(txt_p "$file")"
  echo "$name $txt" >>"$DNSFILE"
  DNSARGS+=("--txt-record=$name,$(printf '%s' "$txt" | commas)")
}
key "$K/rsa.pem" rsa rsa2026._domainkey.example.com
key "$K/ed.pem" ed25519 ed2026._domainkey.example.com
key "$K/trusted-rsa.pem" rsa rsa1._domainkey.trusted.example
key "$K/trusted-ed.pem" ed25519 ed1._domainkey.trusted.example

spawn dnsmasq "$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --port="$DNS" \
  --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts --local=/#/ \
  --user=root --pid-file="$E2E_DIR/dnsmasq.pid" "${DNSARGS[@]}"
dns_up() { dns_answers "$DNS" rsa2026._domainkey.example.com; }
until_true 10 dns_up || fail "dnsmasq does not answer on $DNS: $(cat "$E2E_DIR/dnsmasq.log")"

# ================================================================ clamd
# shellcheck disable=SC2016  # the EICAR string, no expansion meant
EICAR='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
mkdir db
printf '%s' "$EICAR" >eicar.com
printf 'Eicar-Test-Signature-Local:0:*:%s\n' "$(sigtool --hex-dump <eicar.com | tr -d '\n')" >db/sigil.ndb
cat >clamd.conf <<EOF
TCPSocket $CLAM
TCPAddr 127.0.0.1
LocalSocket $E2E_DIR/clamd.sock
DatabaseDirectory $E2E_DIR/db
TemporaryDirectory $E2E_DIR
Foreground yes
EOF
spawn clamd "$CLAMD" -c "$E2E_DIR/clamd.conf"
clamd_ping() {
  "$PY" - "$CLAM" <<'PYEOF' 2>/dev/null
import socket, sys
s = socket.socket(); s.settimeout(1); s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"zPING\0")
sys.exit(0 if s.recv(64).startswith(b"PONG") else 1)
PYEOF
}

# ================================================================ Postfix
PF="$E2E_DIR/pf"
mkdir -p "$PF/mail"
chown nobody "$PF/mail"
MAILDIR="$PF/mail/rcpt/new"
BACKDIR="$PF/mail/back/new"
printf '@example.net rcpt/\n@example.org back/\n' >"$PF/vmailbox"
MAIN="\
relay_domains =
# Final delivery: example.net (the recipients) into mail/rcpt/, example.org
# (the senders: bounces) into mail/back/.
virtual_mailbox_domains = example.net, example.org
virtual_mailbox_base = $PF/mail
virtual_mailbox_maps = texthash:$PF/vmailbox
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(id -g nobody)
virtual_mailbox_limit = 0
# Retry soon: the test waits for deferred mail to go out by itself.
queue_run_delay = 1s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
smtp_connect_timeout = 2s"
SMTPD="inet n - n - - smtpd"
case "$MODE" in
  after-queue)
    pf_setup "$PF" "" "$R" "\
127.0.0.1:$SIGN_IN $SMTPD
  -o content_filter=sigil:[127.0.0.1]:$S_SIGN
127.0.0.1:$VER_IN $SMTPD
  -o content_filter=sigil:[127.0.0.1]:$S_VER
127.0.0.1:$SCAN_IN $SMTPD
  -o content_filter=sigil:[127.0.0.1]:$S_SCAN
sigil     unix  -       -       n       -       4       smtp
  -o smtp_data_done_timeout=1200
  -o smtp_send_xforward_command=yes
  -o disable_dns_lookups=yes
  -o max_use=20" "$MAIN"
    ;;
  proxy)
    proxied() {  # proxied PORT SIGIL_PORT: a public smtpd of the recipe
      printf '127.0.0.1:%s inet n - n - 20 smtpd
  -o smtpd_proxy_filter=127.0.0.1:%s
  -o smtpd_proxy_timeout=100s
  -o smtpd_proxy_options=speed_adjust
  -o smtpd_client_connection_count_limit=10\n' "$1" "$2"
    }
    pf_setup "$PF" "" "$R" "\
$(proxied "$SIGN_IN" "$S_SIGN")
$(proxied "$VER_IN" "$S_VER")
$(proxied "$SCAN_IN" "$S_SCAN")" "$MAIN" "\
127.0.0.1:$R $SMTPD
  -o smtpd_authorized_xforward_hosts=127.0.0.0/8
  -o smtpd_client_restrictions=
  -o smtpd_helo_restrictions=
  -o smtpd_sender_restrictions=
  -o smtpd_relay_restrictions=
  -o smtpd_recipient_restrictions=permit_mynetworks,reject
  -o smtpd_data_restrictions=
  -o mynetworks=127.0.0.0/8
  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters"
    ;;
  milter)
    # The re-injection smtpd (no milters) takes Sigil's DSNs ([forward]).
    pf_setup "$PF" "" "$R" "\
127.0.0.1:$SIGN_IN $SMTPD
  -o smtpd_milters=inet:127.0.0.1:$S_SIGN
127.0.0.1:$VER_IN $SMTPD
  -o smtpd_milters=inet:127.0.0.1:$S_VER
127.0.0.1:$SCAN_IN $SMTPD
  -o smtpd_milters=inet:127.0.0.1:$S_SCAN" "$MAIN
milter_default_action = tempfail
milter_protocol = 6"
    ;;
esac
pf_start "$PF" "$SIGN_IN" "$VER_IN" "$SCAN_IN" "$R"

# ================================================================ sigild
CFG="$E2E_DIR/sigil.toml"
cat >"$CFG" <<EOF
[daemon]
allow_root = true              # the tests run as root (CI)
log_level = "info"
drain_timeout = 10
spool_dir = "$E2E_DIR"

[smtp]
hostname = "sigil.e2e.test"

[forward]
target = "smtp:[127.0.0.1]:$R"
connect_timeout = 5
reply_timeout = 30

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
match = ["example.com", ".example.com"]
keys = ["ex-rsa", "ex-ed"]

[av]
# clamd through a relay that holds each scan 1 s (see "stop mid-load").
scanners = [ { name = "clamd", address = "127.0.0.1:$SLOW", timeout = 20 } ]

[bank.default]
stages = []

[bank.sign]
stages = ["dkim-sign"]
originating = true

[bank.verify]
stages = ["dkim-verify"]

[bank.trusted]
add_header = ["X-Sigil-Whitelisted: yes"]

[[dkim_whitelist]]
match = ["trusted.example"]
banks = ["trusted"]

[[recipient]]
match = ["lover@example.net"]
lovers = ["banned"]

[bank.scan]
stages = ["decode", "av"]
add_header = ["X-Sigil-Scanned: yes"]
destiny = { banned = "reject", virus = "tempfail", unchecked = "bounce" }

[[listener]]
name = "sign"
address = "127.0.0.1:$S_SIGN"
bank = "sign"
mode = "$MODE"

[[listener]]
name = "verify"
address = "127.0.0.1:$S_VER"
bank = "verify"
mode = "$MODE"

[[listener]]
name = "scan"
address = "127.0.0.1:$S_SCAN"
bank = "scan"
mode = "$MODE"
EOF
"$SIGIL" check-config "$CFG" >check-config.out 2>&1 || fail "check-config: $(cat check-config.out)"
# Loading one signature takes about a second; give a loaded machine 60.
until_true 60 clamd_ping || fail "clamd does not answer on $CLAM"
# The slow scanner: each scan message stays 1 s in sigild's pipeline, so a
# stop of sigild finds messages in flight (round() waits for one).
SLOWLOG="$E2E_DIR/slow.events"
: >"$SLOWLOG"
spawn slow "$PY" "$CLIENT" delayproxy "$SLOW" "$CLAM" 1 "$SLOWLOG"
until_true 10 port_open "$SLOW" || fail "the slow relay to clamd is not listening on $SLOW"
SIGILD_NAME=sigild
start_sigild() {  # start_sigild NAME: sigild on $CFG, log NAME.log, all three listeners up
  SIGILD_NAME=$1
  run_sigild "$1" "$CFG" "$S_SIGN"
  local pv="${1}_PID"
  SIGILD_PID=${!pv}
  until_true 5 port_open "$S_VER" || fail "$1 is not listening on $S_VER"
  until_true 5 port_open "$S_SCAN" || fail "$1 is not listening on $S_SCAN"
}
start_sigild sigild
pass "$MODE: Postfix, sigild, dnsmasq and clamd are up"

# ================================================================ helpers
# mkmsg NAME FROM [EXTRA_HEADER...] < body: NAME.eml, CRLF lines,
# Message-ID <NAME@e2e.test>.
mkmsg() {
  local name=$1 from=$2 h
  shift 2
  {
    printf 'From: %s\r\nTo: <rcpt@example.net>\r\nSubject: matrix %s %s\r\n' "$from" "$MODE" "$name"
    printf 'Date: %s\r\nMessage-ID: <%s@e2e.test>\r\n' "$(LC_ALL=C date -R)" "$name"
    for h in "$@"; do printf '%s\r\n' "$h"; done
    printf '\r\n'
    sed 's/$/\r/'
  } >"$name.eml"
}
# attach NAME FILENAME FILE: a multipart body with FILE attached as FILENAME.
attach() {
  printf 'Hello,\nthe document for %s.\n' "$1" | mkmsg_mime "$1" "$2" "$3"
}
mkmsg_mime() {
  local name=$1 fname=$2 file=$3
  {
    printf 'This is a multi-part message.\n--b0undary\nContent-Type: text/plain\n\n'
    cat
    printf -- '--b0undary\nContent-Type: application/octet-stream; name="%s"\n' "$fname"
    printf 'Content-Disposition: attachment; filename="%s"\nContent-Transfer-Encoding: base64\n\n' "$fname"
    base64 <"$file"
    printf -- '--b0undary--\n'
  } | mkmsg "$name" '<sender@example.org>' 'MIME-Version: 1.0' \
    'Content-Type: multipart/mixed; boundary="b0undary"'
}
# send NAME PORT ENVFROM: NAME.eml to Postfix; REPLY = "STEP CODE TEXT" of
# the deciding reply (postfix_matrix.py send).
send() {
  REPLY=$("$PY" "$CLIENT" send "$2" "$3" rcpt@example.net "$1.eml")
  echo "$1: $REPLY"
}
record() { echo "$1 $2" >>"$RES"; }  # record NAME "STEP CODE TEXT" (what the audit expects)
want_reply() {                          # want_reply NAME ERE: REPLY matches
  grep -qE -- "$2" <<<"$REPLY" || fail "$1: Postfix answered '$REPLY', want /$2/"
}
copies() {  # copies NAME [DIR]: the delivered files of NAME (header section only)
  local f
  for f in "${2:-$MAILDIR}"/*; do
    [ -f "$f" ] || continue
    # grep without -q reads to the end: no SIGPIPE for headers_of (pipefail)
    headers_of "$f" | grep -i "^Message-ID: <$1@e2e.test>$" >/dev/null && echo "$f"
  done
  return 0
}
ncopies() { copies "$@" | grep -c . || true; }  # grep -c exits 1 when it counts 0; the count is what is checked
has_copy() { [ "$(ncopies "$@")" -ge 1 ]; }
# delivered_once NAME: waits (30 s) for NAME in the mailbox; exactly one copy.
delivered_once() {
  until_true 30 has_copy "$1" || fail "$1 never reached the mailbox"
  sleep 0.5  # room for a duplicate
  [ "$(ncopies "$1")" -eq 1 ] || fail "$1 was delivered $(ncopies "$1") times"
  copies "$1"
}
# count_files DIR...: regular files below the DIRs (a DIR not there yet counts 0).
count_files() { find "$@" -type f 2>/dev/null | wc -l || true; }  # find may fail on a missing dir (pipefail): 0 then
queue_size() { count_files "$PF/queue/incoming" "$PF/queue/active" "$PF/queue/deferred"; }
summaries_all() {  # summary lines of every sigild started so far
  cat "$E2E_DIR"/sigild*.log 2>/dev/null | { grep -cE ' msg: id=[0-9A-Z]{12} ' || true; }  # grep -c exits 1 when it counts 0; the count is what is checked
}

# ================================================================ 1. sign
printf 'Hello from the signing relay.\n-- \nAlice\n' | mkmsg sign1 'Alice <alice@example.com>'
send sign1 "$SIGN_IN" alice@example.com
want_reply sign1 '^DATA 250 '
record sign1 "$REPLY"
f=$(delivered_once sign1)
cp "$f" sign1.delivered
out=$("$PY" "$CLIENT" verify "$DNSFILE" sign1.delivered) || fail "dkimpy: $out"
echo "$out"
grep -q 'sigs=2 pass=2$' <<<"$out" || fail "sign1: want 2 signatures verifying with dkimpy: $out"
grep -q 'd=example.com s=rsa2026 a=rsa-sha256 pass' <<<"$out" || fail "sign1: RSA: $out"
grep -q 'd=example.com s=ed2026 a=ed25519-sha256 pass' <<<"$out" || fail "sign1: Ed25519: $out"
cat >mdkim.pl <<'PLEOF'
# mdkim.pl DNSPORT FILE: Mail::DKIM's result for each signature of FILE, the
# keys from the DNS server on 127.0.0.1:DNSPORT ("sig d=.. s=.. a=.. RESULT").
use strict;
use Mail::DKIM::Verifier;
use Net::DNS::Resolver;
my ($port, $file) = @ARGV;
Mail::DKIM::DNS::resolver(Net::DNS::Resolver->new(nameservers => ['127.0.0.1'], port => $port,
  recurse => 1, udp_timeout => 3, tcp_timeout => 3, retry => 2));
my $v = Mail::DKIM::Verifier->new;
open(my $fh, '<', $file) or die "$file: $!";
while (<$fh>) { s/\r?\n\z/\r\n/; $v->PRINT($_); }
$v->CLOSE;
printf "sig d=%s s=%s a=%s %s %s\n", $_->domain, $_->selector, $_->algorithm, $_->result,
  $_->result_detail for $v->signatures;
PLEOF
out=$(perl mdkim.pl "$DNS" sign1.delivered 2>&1) || fail "Mail::DKIM: $out"
echo "$out"
grep -q '^sig d=example.com s=rsa2026 a=rsa-sha256 pass' <<<"$out" ||
  fail "sign1: Mail::DKIM does not verify the RSA signature: $out"
pass "$MODE sign: delivered once; RSA + Ed25519 verify (dkimpy), RSA verifies (Mail::DKIM, keys from dnsmasq)"

# The summary's queue_id is the Postfix queue ID of the message as Postfix
# logged it with sign1's Message-ID (after-queue: XFORWARD IDENT, the
# queue file before the filter; proxy: the after-filter smtpd's "queued
# as", the before-queue smtpd having none; milter: macro i).
sum1=$(cat "$E2E_DIR"/sigild*.log | grep -E ' msg: id=[0-9A-Z]{12} .* message_id=<sign1@e2e\.test> ' || true)  # none: checked next
qid=$(grep -oE ' queue_id=[0-9A-Za-z]+ ' <<<"$sum1" | cut -d= -f2 | tr -d ' ')
[ -n "$qid" ] || fail "sign1: no queue_id in the summary: $sum1"
until_true 10 log_has "$PF/maillog" "postfix/cleanup\[[0-9]+\]: $qid: message-id=<sign1@e2e\.test>" ||
  fail "sign1: queue_id=$qid is not Postfix's queue ID of sign1: $(grep 'sign1@e2e' "$PF/maillog")"
pass "$MODE sign: the summary's queue_id=$qid is Postfix's queue ID of the message"

# The header section as delivered: the delivery agent's fields, Postfix's
# Received: fields and Sigil's signatures above the message as sent.
order=$(headers_of sign1.delivered | cut -d: -f1 | head -8 | paste -sd' ')
echo "sign1 delivered header order: $order ..."
case "$MODE" in
  milter)
    # Postfix hides its own Received: from the milter (Sigil saw the message
    # as sent) and puts a field inserted at index 0 above it; nothing else
    # is added after the milter but the delivery agent's fields.
    want="Return-Path X-Original-To Delivered-To DKIM-Signature DKIM-Signature Received" ;;
  *)
    # The second smtpd's Received: (re-injection / after-filter), Sigil's
    # fields, the first smtpd's Received:.
    want="Return-Path X-Original-To Delivered-To Received DKIM-Signature DKIM-Signature Received" ;;
esac
[ "$(headers_of sign1.delivered | cut -d: -f1 | head -"$(wc -w <<<"$want")" | paste -sd' ')" = "$want" ] ||
  fail "sign1: delivered header order '$order ...', want '$want ...'"
diff <(headers_of sign1.eml) <(headers_of sign1.delivered | tail -n +"$(($(wc -w <<<"$want") + 1))") >sign1.diff ||
  fail "sign1: below the trace fields, the header section is not the one sent: $(cat sign1.diff)"

# ================================================================ 2. verify
printf 'Newsletter.\n' | mkmsg ver-wl 'Trusted <news@trusted.example>'
mv ver-wl.eml ver-wl.raw
"$PY" "$CLIENT" sign --key "$K/trusted-rsa.pem:trusted.example:rsa1" \
  --key "$K/trusted-ed.pem:trusted.example:ed1" ver-wl.raw ver-wl.eml || fail "dkimpy signing failed"
sed 's/^Newsletter\./Newsletter!/; s/<ver-wl@/<ver-bad@/' ver-wl.eml >ver-bad.eml
printf 'Newsletter, unsigned.\n' | mkmsg ver-none 'Trusted <news@trusted.example>'
for m in ver-wl ver-bad ver-none; do
  send $m "$VER_IN" news@trusted.example
  want_reply $m '^DATA 250 '
  record $m "$REPLY"
done
# our_ar FILE: our Authentication-Results, unfolded; whitelisted FILE: the bank's field.
our_ar() { headers_of "$1" | grep -i '^Authentication-Results: mx\.e2e\.test;' || true; }  # no such field is an answer (empty), not an error
whitelisted() { headers_of "$1" | grep -x 'X-Sigil-Whitelisted: yes' >/dev/null; }
f=$(delivered_once ver-wl)
ar=$(our_ar "$f")
[ "$(grep -c . <<<"$ar")" -eq 1 ] || fail "ver-wl: want one Authentication-Results of ours: $ar"
grep -qE 'dkim=pass .*header\.d=trusted\.example.*dkim=pass ' <<<"$ar" ||
  fail "ver-wl: want dkim=pass for both signatures: $ar"
if ! grep -q 'header.a=ed25519-sha256' <<<"$ar" || ! grep -q 'header.a=rsa-sha256' <<<"$ar"; then
  fail "ver-wl: want the RSA and the Ed25519 result: $ar"
fi
whitelisted "$f" || fail "ver-wl: no X-Sigil-Whitelisted (bank trusted not loaded): $(headers_of "$f")"
f=$(delivered_once ver-bad)
ar=$(our_ar "$f")
if ! grep -q 'dkim=fail' <<<"$ar" || grep -q 'dkim=pass' <<<"$ar"; then fail "ver-bad: want dkim=fail only: $ar"; fi
! whitelisted "$f" || fail "ver-bad: whitelisted with a broken signature"
f=$(delivered_once ver-none)
grep -qE 'dkim=none' <<<"$(our_ar "$f")" || fail "ver-none: want dkim=none: $(our_ar "$f")"
! whitelisted "$f" || fail "ver-none: whitelisted without a signature"
grep -q "whitelist=\"rule 0 'trusted.example' d=trusted.example" "$E2E_DIR/sigild.log" ||
  fail "sigild logged no whitelist switch"
! grep -q "DSNs for recipients bounced" "$E2E_DIR/sigild.log" ||
  fail "sigild warned about the DSN target although [forward] goes to Postfix"
pass "$MODE verify: signed by trusted.example → dkim=pass (RSA + Ed25519) + whitelisted bank; broken → fail, unsigned → none, neither switched"

# ================================================================ 3. scan
printf 'Nothing to see.\n' | mkmsg scan-clean '<sender@example.org>'
printf 'MZ\x90\x00 not really a program\n' >payload.bin
attach scan-banned invoice.pdf.exe payload.bin
mkdir -p z
cp payload.bin z/x.pdf.exe
(cd z && zip -q ../docs.zip x.pdf.exe) || fail "zip"
attach scan-zip docs.zip docs.zip
printf 'secret notes\n' >z/notes.txt
(cd z && zip -q -P s3cret ../locked.zip notes.txt) || fail "zip -P"
attach scan-locked locked.zip locked.zip
{ printf 'The test virus:\n'; cat eicar.com; printf '\n'; } | mkmsg scan-eicar '<sender@example.org>'
send scan-clean "$SCAN_IN" sender@example.org
want_reply scan-clean '^DATA 250 '
record scan-clean "$REPLY"
for m in scan-banned scan-zip scan-locked; do
  send $m "$SCAN_IN" sender@example.org
  if [ "$MODE" = after-queue ]; then want_reply $m '^DATA 250 '; else want_reply $m '^DATA 554 5\.7\.1 '; fi
  record $m "DATA 554 refused by Sigil"
done
send scan-eicar "$SCAN_IN" eicar@example.org
if [ "$MODE" = after-queue ]; then want_reply scan-eicar '^DATA 250 '; else want_reply scan-eicar '^DATA 451 4\.7\.1 '; fi
record scan-eicar "DATA 451 refused by Sigil"
f=$(delivered_once scan-clean)
grep -qx 'X-Sigil-Scanned: yes' <(headers_of "$f") || fail "scan-clean: no X-Sigil-Scanned field"
summary_has() {  # summary_has ERE: a summary line of the scan listener matches
  grep -E ' msg: id=[0-9A-Z]{12} ' "$E2E_DIR/sigild.log" | grep -E -- "$1" >/dev/null
}
until_true 20 summary_has 'banned name .invoice\.pdf\.exe.*destiny=reject' || fail "no summary: banned x.pdf.exe rejected"
until_true 20 summary_has 'banned name .x\.pdf\.exe. in docs\.zip.*destiny=reject' || fail "no summary: zipped x.pdf.exe rejected"
# Before the queue (proxy, milter) the bounce destiny becomes a reject.
bounce='dsn="250 .* bounced \(unchecked: encrypted archive: locked\.zip\)'
[ "$MODE" = after-queue ] || bounce='encrypted archive: locked\.zip\) destiny=reject'
until_true 20 summary_has "$bounce" || fail "no summary: encrypted zip unchecked, /$bounce/"
until_true 20 summary_has 'virus \(av: Eicar-Test-Signature-Local.*destiny=tempfail' || fail "no summary: EICAR tempfailed"
# back NAME ERE...: a message in the senders' mailbox mentions NAME's
# Message-ID and matches every ERE.
back() {
  local name=$1 f ok
  shift
  for f in "$BACKDIR"/*; do
    [ -f "$f" ] || continue
    grep -q "Message-ID: <$name@e2e.test>" "$f" || continue
    ok=1
    for e in "$@"; do grep -qE -- "$e" "$f" || ok=""; done
    [ -n "$ok" ] && return 0
  done
  return 1
}
if [ "$MODE" = after-queue ]; then
  for m in scan-banned scan-zip; do
    until_true 30 back $m '^From: .*<MAILER-DAEMON@pf\.e2e\.test>' 'said: 554 5\.7\.1 ' ||
      fail "$m: no Postfix bounce quoting Sigil's 554 5.7.1 reached the sender"
  done
  until_true 30 back scan-locked '^Reporting-MTA: dns; ?sigil\.e2e\.test' '^Action: failed' ||
    fail "scan-locked: no DSN from Sigil reached the sender"
  # The tempfail: deferred in Postfix's queue, with Sigil's 451 as the reason.
  deferred_eicar() {
    postqueue -c "$PF" -j 2>/dev/null | "$PY" -c '
import json, sys
for l in sys.stdin:
    q = json.loads(l)
    if q["sender"] == "eicar@example.org" and q["queue_name"] == "deferred" and \
       any("451 4.7.1" in r.get("delay_reason", "") for r in q["recipients"]):
        print(q["queue_id"])'
  }
  eicar_deferred() { [ -n "$(deferred_eicar)" ]; }
  until_true 30 eicar_deferred ||
    { postqueue -c "$PF" -p; fail "scan-eicar is not deferred in Postfix's queue with 451 4.7.1"; }
  qid=$(deferred_eicar)
  postqueue -c "$PF" -p | grep -A2 "^$qid" | sed 's/^/  /'
  postsuper -c "$PF" -d "$qid" >/dev/null 2>&1 || fail "postsuper -d $qid"
  pass "$MODE scan: reject → Postfix's bounce (554 5.7.1), bounce → Sigil's DSN, tempfail → deferred in Postfix's queue (451 4.7.1)"
else
  n_back=$(count_files "$BACKDIR")
  [ "$n_back" -eq 0 ] || fail "$n_back bounce(s) reached the sender; the client was told in its session"
  pass "$MODE scan: reject and bounce → the client's 554 5.7.1, tempfail → its 451 4.7.1, no bounce"
fi
# Recipients that differ: lover@example.net loves banned content, so for him
# x.pdf.exe passes; rcpt@example.net's copy is rejected.  The client can be
# told only once (250): every mode delivers the lover's copy once and bounces
# rcpt with Sigil's DSN through the re-injection smtpd (milter: SMFIR_DELRCPT
# for rcpt, the DSN through [forward] before the reply).
attach scan-split x.pdf.exe payload.bin
REPLY=$("$PY" "$CLIENT" send "$SCAN_IN" sender@example.org rcpt@example.net,lover@example.net scan-split.eml)
echo "scan-split: $REPLY"
want_reply scan-split '^DATA 250 '
record scan-split "$REPLY"
f=$(delivered_once scan-split)
grep -qx 'X-Original-To: lover@example.net' <(headers_of "$f") ||
  fail "scan-split: the one copy delivered is not the lover's: $(headers_of "$f" | head -3)"
until_true 30 back scan-split '^Reporting-MTA: dns; ?sigil\.e2e\.test' '^Final-Recipient: rfc822; ?rcpt@example\.net' ||
  fail "scan-split: no DSN from Sigil for rcpt@example.net reached the sender"
! back scan-split 'lover@example\.net' || fail "scan-split: the DSN names the lover, who got the message"
split_logged='rcpt@example\.net: bounced \(banned: .*dsn="250 |dsn="250 .*rcpt@example\.net: bounced \(banned: '
until_true 20 summary_has "$split_logged" ||
  fail "no summary: scan-split's rcpt bounced with a DSN accepted"
pass "$MODE scan: recipients that differ → the lover's copy delivered once, the other bounced (Sigil's DSN)"
sleep 1
"$PY" "$CLIENT" audit "$RES" "$MAILDIR" "$MARKS" >audit0.out || fail "audit: $(cat audit0.out)"
cat audit0.out
pass "$MODE: accepted messages delivered exactly once with Sigil's mark, refused ones not at all"

# ================================================================ 4. stop mid-load
# round N SIGNAL: 42 messages (14 per use) on 6 connections, paced; sigild
# gets SIGNAL once it logged 6 summary lines and a scan message is in its
# pipeline (waiting on the slow scanner), and is restarted 2 s later.
round() {
  local n=$1 sig=$2 i use port from spec="$E2E_DIR/batch$1.spec" out="$E2E_DIR/batch$1.out"
  : >"$spec"
  : >"$out"
  for i in $(seq -w 1 14); do
    for use in sign ver scan; do
      case $use in
        sign)
          printf 'Load %s.\n' "$i" | mkmsg "r$n-sign-$i" 'Alice <alice@example.com>'
          port=$SIGN_IN from=alice@example.com ;;
        ver)
          printf 'Load %s.\n' "$i" | mkmsg "r$n-ver-$i.raw" 'Trusted <news@trusted.example>'
          sed -i "s/<r$n-ver-$i.raw@/<r$n-ver-$i@/" "r$n-ver-$i.raw.eml"
          port=$VER_IN from=news@trusted.example ;;
        scan)
          printf 'Load %s.\n' "$i" | mkmsg "r$n-scan-$i" '<sender@example.org>'
          port=$SCAN_IN from=sender@example.org ;;
      esac
      echo "r$n-$use-$i $port $from rcpt@example.net $E2E_DIR/r$n-$use-$i.eml" >>"$spec"
    done
  done
  # shellcheck disable=SC2046  # the file pairs, one word each
  "$PY" "$CLIENT" sign --key "$K/trusted-rsa.pem:trusted.example:rsa1" \
    $(for i in $(seq -w 1 14); do echo "r$n-ver-$i.raw.eml r$n-ver-$i.eml"; done) || fail "dkimpy signing failed"
  local before old_pid old_name ml_before
  before=$(summaries_all)
  ml_before=$(wc -l <"$PF/maillog")
  # Each connection sends 3 messages, then waits for the gate (opened once
  # sigild is back) before its other 4: the stop surely lands in the load
  # and part of the load surely meets the restarted sigild.
  spawn "client$n" "$PY" "$CLIENT" batch "$spec" "$out" 6 0.35 3 "$E2E_DIR/gate$n"
  local cpid_var="client${n}_PID"
  local cpid=${!cpid_var}
  # scans_in_flight [SECONDS]: scans the slow relay took (less than SECONDS
  # ago) and has not answered yet.  Each takes 1 s: one taken less than
  # 0.5 s ago is still in flight when the signal follows.
  scans_in_flight() {
    awk -v now="$(date +%s.%N)" -v age="${1:-99}" '$1 == "open" && now - $3 < age { o[$2] = 1 }
      $1 == "close" { delete o[$2] } END { n = 0; for (k in o) n++; print n }' "$SLOWLOG"
  }
  enough() { [ "$(summaries_all)" -ge $((before + 6)) ] && [ "$(scans_in_flight 0.5)" -ge 1 ]; }
  until_true 30 enough ||
    fail "round $n: sigild handled $(($(summaries_all) - before)) messages, no scan in flight"
  local in_flight
  in_flight=$(scans_in_flight)
  old_pid=$SIGILD_PID old_name=$SIGILD_NAME
  kill -s "$sig" "$old_pid"
  wait_gone "$old_pid" 20 || fail "round $n: sigild still runs 20 s after SIG$sig"
  forget "$old_pid"
  local done_at_kill
  done_at_kill=$(grep -c . "$out" || true)  # grep -c exits 1 when it counts 0; the count is what is checked
  echo "round $n: SIG$sig after $(($(summaries_all) - before)) summaries, $done_at_kill client outcomes, $in_flight scan(s) in sigild's pipeline"
  if [ "$sig" = TERM ]; then
    # Drained, not dropped: the scan that was in the pipeline finished.
    local drained_scans
    drained_scans=$(awk '/SIGTERM: draining/ { d = 1 } d && / msg: id=/ && / bank=scan /' \
      "$E2E_DIR/$old_name.log" | grep -c . || true)  # grep -c exits 1 when it counts 0; the count is what is checked
    echo "round $n: $drained_scans scan(s) finished while draining"
    [ "$drained_scans" -ge 1 ] || fail "round $n: no scan in flight finished after SIGTERM (drain)"
  fi
  sleep 2
  start_sigild "sigild_r$n"
  touch "$E2E_DIR/gate$n"
  wait_gone "$cpid" 90 || fail "round $n: the client did not finish within 90 s"
  wait_rc "$cpid"
  [ "$WAIT_RC" -eq 0 ] || fail "round $n: the client failed (rc $WAIT_RC): $(tail -5 "$E2E_DIR/client$n.log")"
  forget "$cpid"
  [ "$(grep -c . "$out")" -eq 42 ] || fail "round $n: the client recorded $(grep -c . "$out") of 42 outcomes"
  local acc ref unk
  acc=$(grep -cE '^[^ ]+ DATA 250 ' "$out" || true)  # grep -c exits 1 when it counts 0; the count is what is checked
  unk=$(grep -cE '^[^ ]+ [A-Z]+ -1 ' "$out" || true)  # grep -c exits 1 when it counts 0; the count is what is checked
  ref=$((42 - acc - unk))
  echo "round $n: client got 250 for $acc, a refusal for $ref, no answer for $unk"
  grep -vE '^[^ ]+ DATA 250 ' "$out" | awk '{ $1 = ""; print }' | sort | uniq -c | sed 's/^/  /' || true  # diagnostics only: nothing to list is fine
  # Drained: Postfix's queue empty (after-queue: the deferred mail went
  # through the restarted sigild) and every accepted message delivered.
  drained() { [ "$(queue_size)" -eq 0 ]; }
  until_true 90 drained || { postqueue -c "$PF" -p; fail "round $n: Postfix's queue still holds $(queue_size) messages"; }
  sleep 1
  # cut_names: the messages whose hand-over to sigild was cut after the end
  # of DATA (Postfix: "lost connection ... while sending end of data"); a
  # SIGKILL can land after the back-end took one and before sigild's 250
  # (RFC 1047), so Postfix's retry may deliver it twice.
  tail -n "+$((ml_before + 1))" "$PF/maillog" | awk '
    { if (!match($0, /: [0-9A-F]+: /)) next; q = substr($0, RSTART + 2, RLENGTH - 4) }
    /: message-id=<[^@>]+@e2e\.test>/ { id = $0; sub(/.*message-id=</, "", id); sub(/@.*/, "", id); name[q] = id }
    /status=deferred \(lost connection with .* while sending end of data/ { cut[q] = 1 }
    END { for (q in cut) if (q in name) print name[q] }' >"$E2E_DIR/cut$n"
  "$PY" "$CLIENT" audit "$out" "$MAILDIR" "$MARKS" "$E2E_DIR/cut$n" >"audit$n.out" || fail "round $n: audit: $(cat "audit$n.out")"
  cat "audit$n.out"
  # The stop hit the load: after-queue, the restarted sigild delivered part
  # of it (Postfix had queued it meanwhile); proxy and milter, the client
  # was refused part of it and the restarted sigild took some again.
  local after
  after=$(summaries "$E2E_DIR/sigild_r$n.log")
  [ "$after" -ge 1 ] || fail "round $n: the restarted sigild handled nothing: the stop missed the load"
  if [ "$MODE" = after-queue ]; then
    [ "$acc" -eq 42 ] || fail "round $n: Postfix refused $((42 - acc)) messages; after-queue it accepts all"
  else
    [ "$ref" -ge 1 ] || fail "round $n: no message was refused while sigild was down"
  fi
  if [ "$sig" = KILL ]; then
    # What became of the scans killed in the pipeline, as Postfix saw it.
    local lost
    case "$MODE" in
      after-queue)  # deferred, retried later (and delivered once: the audit)
        lost=$(tail -n "+$((ml_before + 1))" "$PF/maillog" | grep -F "relay=127.0.0.1[127.0.0.1]:$S_SCAN, " |
          grep -c 'status=deferred (lost connection with 127.0.0.1\[127.0.0.1\] while sending end of data' || true) ;;  # grep -c exits 1 when it counts 0; the count is what is checked
      proxy)  # the client's 451 at the end of DATA
        lost=$(tail -n "+$((ml_before + 1))" "$PF/maillog" |
          grep -cF "warning: lost connection with proxy 127.0.0.1:$S_SCAN" || true) ;;  # grep -c exits 1 when it counts 0; the count is what is checked
      milter)  # milter_default_action = tempfail: the client's 451 at the end of DATA
        lost=$(grep -cE '^r[0-9]+-scan-[0-9]+ DATA 451 4\.7\.1 ' "$out" || true) ;;  # grep -c exits 1 when it counts 0; the count is what is checked
    esac
    echo "round $n: $lost scan(s) cut off in sigild's pipeline by SIGKILL"
    [ "$lost" -ge 1 ] || fail "round $n: no trace of a scan cut off by SIGKILL (want >= 1)"
  fi
  pass "$MODE round $n (SIG$sig): $acc accepted → each delivered once with Sigil's mark ($(grep -c . "$E2E_DIR/cut$n" || true) cut after DATA, twice allowed); $ref refused → none delivered; restarted sigild took $after"
}
round 1 TERM
round 2 KILL
