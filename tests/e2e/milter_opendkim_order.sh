#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.milter_opendkim_order — Sigil among other milters in a real Postfix,
# and the forged Authentication-Results it deletes.
#
#   client → smtpd :CHAIN (smtpd_milters = OpenDKIM, Sigil) → virtual(8) → Maildir
#   client → smtpd :FIRST (smtpd_milters = Sigil, OpenDKIM) → virtual(8) → Maildir
#   client → smtpd :ALONE (smtpd_milters = Sigil)           → virtual(8) → Maildir
#
# OpenDKIM (/usr/sbin/opendkim, `Mode v`, AuthservID opendkim.e2e.test,
# AlwaysAddARHeader) inserts its Authentication-Results at the top, above
# Postfix's own Received: (Debian's OpenDKIM asks for index 0); Sigil
# (dkim-verify, authserv_id mx.e2e.test) removes every field claiming
# mx.e2e.test and adds its own.  Both take the DKIM keys from one dnsmasq on a
# loopback port (OpenDKIM through libunbound, forwarding there).
#
# What Postfix 3.7.11 does, as measured here (E2E_CLEANUP_VERBOSE=1 makes
# cleanup log each milter's header events and edit requests in pf/maillog):
# it runs the milters one after the other on the queue file; on CHAIN Sigil
# is sent OpenDKIM's field and not Postfix's Received:, and cleanup counts
# a SMFIR_CHGHEADER index over the same fields (for message one Sigil asks
# to delete Authentication-Results #2, the forged one, and that one goes).
# Postfix before the change dated 20231213 in its HISTORY left the first
# field out of that count instead, so on CHAIN it would delete the
# other.example field and keep the forged one; FIRST is the order that is
# right there too (docs/postfix.md, "Among other milters").
#
# Messages (each carries a legit Authentication-Results of other.example):
#   one   signed by example.com; one forged A-R of mx.e2e.test at the top
#   two   signed; forged A-Rs at the top and in the middle of the header
#   three unsigned; the same two forged A-Rs (OpenDKIM: dkim=none)
#   four  signed; forged A-R near the top, with a Received: of its own below
#         it and another A-R of other.example above the forged one
# each sent through every path (ALONE, without OpenDKIM, proves the checks).
#
# Asserts on every delivered copy: exactly one field claims mx.e2e.test,
# Sigil's (dkim=pass for the signed ones, dkim=none for three); OpenDKIM's
# Authentication-Results is there once on CHAIN and FIRST copies (dkim=pass
# / none), on CHAIN above Postfix's Received:, none on ALONE copies; the
# other.example fields are kept; below the fields the milters and Postfix
# added, the header section is the one sent minus the forged fields, in
# order.  Sigil's summary line says how many it removed.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
source "$(dirname "$0")/postfix_lib.sh"
source "$(dirname "$0")/signing_lib.sh"

pf_require
PY=/usr/bin/python3
"$PY" -c 'import dkim' 2>/dev/null || fail "$PY cannot import dkim (package python3-dkim)"
OPENDKIM=/usr/sbin/opendkim
[ -x "$OPENDKIM" ] || fail "opendkim not installed (package opendkim)"
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || fail "dnsmasq not installed (package dnsmasq-base)"
command -v openssl >/dev/null || fail "openssl is not installed"

CLIENT="$E2E_HERE/postfix_matrix.py"
take_ports CHAIN FIRST ALONE OD SM DNS
cd "$E2E_DIR"
K="$E2E_DIR/keys"
mkdir -m 0700 "$K"
OURS=mx.e2e.test
THEIRS=opendkim.e2e.test

# ================================================================ key + DNS
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K/rsa.pem" 2>/dev/null ||
  fail "openssl genpkey"
chmod 600 "$K/rsa.pem"
TXT="v=DKIM1; k=rsa; p=$(txt_p "$K/rsa.pem")"
spawn dnsmasq "$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --port="$DNS" \
  --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts --local=/#/ \
  --user=root --pid-file="$E2E_DIR/dnsmasq.pid" \
  "--txt-record=sel1._domainkey.example.com,$(printf '%s' "$TXT" | fold -w 255 | paste -sd, -)"
dns_up() { dns_answers "$DNS" sel1._domainkey.example.com; }
until_true 10 dns_up || fail "dnsmasq does not answer on $DNS: $(cat dnsmasq.log)"

# ================================================================ OpenDKIM
# libunbound refuses to query 127.0.0.1 unless told; it forwards everything
# to dnsmasq (no DNSSEC: no trust anchor).
cat >unbound.conf <<EOF
server:
  do-not-query-localhost: no
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@$DNS
EOF
cat >opendkim.conf <<EOF
Mode v
Socket inet:$OD@127.0.0.1
AuthservID $THEIRS
AlwaysAddARHeader yes
Background no
PidFile $E2E_DIR/opendkim.pid
ResolverConfiguration $E2E_DIR/unbound.conf
DNSTimeout 5
Syslog no
UMask 022
EOF
spawn opendkim "$OPENDKIM" -f -x "$E2E_DIR/opendkim.conf"
until_true 10 port_open "$OD" || fail "opendkim is not listening on $OD: $(cat opendkim.log)"

# ================================================================ sigild
CFG="$E2E_DIR/sigil.toml"
cat >"$CFG" <<EOF
[daemon]
allow_root = true              # the tests run as root (CI)
log_level = "${E2E_SIGIL_LOG_LEVEL:-info}"
drain_timeout = 5
spool_dir = "$E2E_DIR"

[smtp]
hostname = "sigil.e2e.test"

[dns]
servers = ["127.0.0.1:$DNS"]
timeout_ms = 1000

[dkim_verify]
authserv_id = "$OURS"

[bank.verify]
stages = ["dkim-verify"]

[[listener]]
name = "milter"
address = "127.0.0.1:$SM"
bank = "verify"
mode = "milter"
EOF
"$SIGIL" check-config "$CFG" >check-config.out 2>&1 || fail "check-config: $(cat check-config.out)"
run_sigild sigild "$CFG" "$SM"
LOG="$E2E_DIR/sigild.log"

# ================================================================ Postfix
PF="$E2E_DIR/pf"
mkdir -p "$PF/mail"
chown nobody "$PF/mail"
MAILDIR="$PF/mail/rcpt/new"
pf_setup "$PF" "" "" "\
127.0.0.1:$CHAIN inet n - n - - smtpd
  -o { smtpd_milters = inet:127.0.0.1:$OD, inet:127.0.0.1:$SM }
127.0.0.1:$FIRST inet n - n - - smtpd
  -o { smtpd_milters = inet:127.0.0.1:$SM, inet:127.0.0.1:$OD }
127.0.0.1:$ALONE inet n - n - - smtpd
  -o smtpd_milters=inet:127.0.0.1:$SM" "\
relay_domains =
$(pf_mailbox_conf "$PF")
milter_default_action = tempfail
milter_protocol = 6"
# E2E_CLEANUP_VERBOSE=1: cleanup logs each milter edit request (index, name)
# and where it found the field (maillog), for reading Postfix's semantics.
if [ -n "${E2E_CLEANUP_VERBOSE:-}" ]; then
  sed -i 's/^\(cleanup .* cleanup\)$/\1 -v/' "$PF/master.cf"
fi
pf_start "$PF" "$CHAIN" "$FIRST" "$ALONE"
pass "Postfix, OpenDKIM, sigild and dnsmasq are up"

# ================================================================ messages
FORGED_TOP="Authentication-Results: $OURS; dkim=pass header.d=example.com (forged-top)"
FORGED_MID="Authentication-Results: $OURS;
	dkim=pass header.d=example.com (forged-middle)"
LEGIT="Authentication-Results: other.example; spf=pass smtp.mailfrom=example.com (legit)"
LEGIT2="Authentication-Results: other.example; dmarc=pass header.from=example.com (legit-2)"
OLD_RECEIVED="Received: from old.example (old.example [192.0.2.7]) by other.example; Mon, 7 Dec 2026 06:00:00 +0000"

# mkmsg ID SIGN TOP_FIELDS MIDDLE_FIELDS: ID.eml (CRLF); the fields of
# TOP_FIELDS (newline-separated, a tab starts a folded line) above the rest
# (and above the DKIM-Signature when SIGN is yes); MIDDLE_FIELDS between
# Subject and Date.
mkmsg() {
  local name=$1 sign=$2 top=$3 middle=$4
  {
    printf 'From: Alice <alice@example.com>\nTo: <rcpt@example.net>\n'
    printf 'Subject: milter order %s\n' "$name"
    [ -z "$middle" ] || printf '%s\n' "$middle"
    printf 'Date: %s\nMessage-ID: <%s@e2e.test>\n%s\n\n' "$(LC_ALL=C date -R)" "$name" "$LEGIT"
    printf 'Hello,\nthis is message %s.\n' "$name"
  } | sed 's/$/\r/' >"$name.body.eml"
  if [ "$sign" = yes ]; then
    "$PY" "$CLIENT" sign --key "$K/rsa.pem:example.com:sel1" "$name.body.eml" "$name.signed.eml"
  else
    cp "$name.body.eml" "$name.signed.eml"
  fi
  { [ -z "$top" ] || printf '%s\n' "$top" | sed 's/$/\r/'; cat "$name.signed.eml"; } >"$name.eml"
}
# One message per name and path (Message-ID <NAME-PORT@e2e.test>, signed
# as such), so the copies are told apart.
make_all() {  # make_all PORT
  mkmsg "one-$1" yes "$FORGED_TOP" ""
  mkmsg "two-$1" yes "$FORGED_TOP" "$FORGED_MID"
  mkmsg "three-$1" no "$FORGED_TOP" "$FORGED_MID"
  mkmsg "four-$1" yes "$LEGIT2
$FORGED_TOP
$OLD_RECEIVED" ""
}
MSGS="one two three four"

send() {  # send ID PORT: ID.eml to Postfix on PORT; 250 wanted
  local id=$1 port=$2 reply
  reply=$("$PY" "$CLIENT" send "$port" alice@example.com rcpt@example.net "$id.eml")
  echo "$id: $reply"
  grep -qE '^DATA 250 ' <<<"$reply" || fail "$id: Postfix answered '$reply', want DATA 250"
}
for port in "$CHAIN" "$FIRST" "$ALONE"; do
  make_all "$port"
  for m in $MSGS; do send "$m-$port" "$port"; done
done

copies() {  # copies ID: the delivered files of message ID
  local f
  for f in "$MAILDIR"/*; do
    [ -f "$f" ] || continue
    headers_of "$f" | grep -i "^Message-ID: <$1@e2e.test>$" >/dev/null && echo "$f"
  done
  return 0
}
ncopies() { copies "$1" | grep -c . || true; }  # grep -c exits 1 when it counts 0; callers compare the count
has_copy() { [ "$(ncopies "$1")" -ge 1 ]; }
delivered_once() {  # delivered_once ID: waits (30 s); exactly one copy; prints it
  until_true 30 has_copy "$1" || fail "$1 never reached the mailbox"
  [ "$(ncopies "$1")" -eq 1 ] || fail "$1 was delivered $(ncopies "$1") times"
  copies "$1"
}
# claiming FILE AUTHSERV: the Authentication-Results fields of FILE whose
# authserv-id is AUTHSERV (one a line, unfolded).
claiming() {
  # No such field is an answer (empty), not an error: the callers count the lines.
  headers_of "$1" | { grep -iE "^Authentication-Results: *$(sed 's/\./\\./g' <<<"$2") *;" || true; }
}

# ================================================================ checks
check_copy() {  # check_copy NAME PORT SIGNED(yes|no) CHAINED(yes|no)
  local name=$1 port=$2 signed=$3 chained=$4 id f ours theirs want n
  id=$name-$port
  f=$(delivered_once "$id")
  cp "$f" "$id.delivered"
  headers_of "$f" >"$id.fields"
  ours=$(claiming "$f" "$OURS")
  [ "$(grep -c . <<<"$ours")" -eq 1 ] ||
    fail "$id: want exactly one Authentication-Results of $OURS (Sigil's), got: $ours"
  ! grep -q forged "$id.fields" || fail "$id: a forged field survived: $(grep forged "$id.fields")"
  want="dkim=none"
  [ "$signed" = no ] || want="dkim=pass (2048-bit key) header.d=example.com header.s=sel1"
  grep -qF "$want" <<<"$ours" || fail "$id: Sigil's Authentication-Results is not '$want': $ours"
  theirs=$(claiming "$f" "$THEIRS")
  if [ "$chained" = yes ]; then
    [ "$(grep -c . <<<"$theirs")" -eq 1 ] ||
      fail "$id: want OpenDKIM's Authentication-Results once, got: '$theirs'"
    want="dkim=none"
    [ "$signed" = no ] || want="dkim=pass"
    grep -qF "$want" <<<"$theirs" || fail "$id: OpenDKIM's Authentication-Results is not $want: $theirs"
  else
    [ -z "$theirs" ] || fail "$id: OpenDKIM was not in this path, yet: $theirs"
  fi
  if [ "$port" = "$CHAIN" ]; then
    # The case at stake: OpenDKIM put its field on top, above Postfix's own
    # Received: (the one Postfix hides from milters), before Sigil's turn.
    local at_theirs at_received
    at_theirs=$(grep -n -iE "^Authentication-Results: *$THEIRS;" "$id.fields" | cut -d: -f1)
    at_received=$(grep -n -E '^Received: from client\.e2e\.test .* by pf\.e2e\.test ' "$id.fields" |
      cut -d: -f1)
    [ -n "$at_received" ] && [ "$at_theirs" -lt "$at_received" ] ||
      fail "$id: OpenDKIM's field (line $at_theirs) is not above Postfix's Received: (line $at_received)"
  fi
  n=$(grep -c '(legit' "$id.fields" || true)  # grep -c exits 1 when it counts 0; the count is checked below
  want=1
  [ "$name" != four ] || want=2
  [ "$n" -eq "$want" ] || fail "$id: want $want Authentication-Results of other.example, got $n"
  # Below what the milters and Postfix put on top (the delivery agent's
  # fields, the two milters' fields, Postfix's Received:), the fields as
  # sent minus the forged ones, in order.
  headers_of "$id.eml" | grep -v forged >"$id.sent"
  n=$(wc -l <"$id.sent")
  tail -n "$n" "$id.fields" | diff "$id.sent" - >"$id.diff" ||
    fail "$id: the header section below the added fields is not the one sent: $(cat "$id.diff")"
  echo "$id: $(cut -d: -f1 "$id.fields" | head -8 | paste -sd' ') ..."
}
for m in $MSGS; do
  signed=yes
  [ "$m" != three ] || signed=no
  check_copy "$m" "$ALONE" "$signed" no
  check_copy "$m" "$CHAIN" "$signed" yes
  check_copy "$m" "$FIRST" "$signed" yes
done
pass "Sigil alone, after OpenDKIM (its field above Postfix's Received:) and before it: every forged Authentication-Results of $OURS gone, Sigil's and OpenDKIM's there, other.example's kept, the rest in order"

# Sigil's summary lines: one per message and path; the forged ones counted.
[ "$(summaries "$LOG")" -eq 12 ] || fail "sigild logged $(summaries "$LOG") summary lines, want 12"
removed() {  # removed N: summary lines saying N were removed
  { grep -c "removed $1 Authentication-Results claiming $OURS\"" "$LOG" || true; }
}
[ "$(removed 1)" -eq 6 ] || fail "sigild: $(removed 1) summaries with 1 forged field removed, want 6 (one, four)"
[ "$(removed 2)" -eq 6 ] || fail "sigild: $(removed 2) summaries with 2 forged fields removed, want 6 (two, three)"
pass "sigild's summaries count the forged fields it removed"
