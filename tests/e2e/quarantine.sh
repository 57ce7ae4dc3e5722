#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.quarantine — the quarantine and `sigil quarantine list|show|release`,
# between a Python SMTP client and smtp-sink (which records the envelope it
# got as X-Mail-Args / X-Rcpt-Args lines in its dump).
#
# The category is bad-header (a message without From, found by the decode
# stage), so no scanner is needed; every category goes through the same
# code after the destiny.
#
# Peers: smtp-sink; sigild "main" ([quarantine] plain files) with listeners
# for bank default (bad-header discarded and quarantined) and bank keep
# (bad-header passed and quarantined); sigild "gz" (compress = true); sigild
# "broken" whose quarantine dir cannot be created (its parent becomes a file
# once it runs).
#
# Asserts:
#   - discard + quarantine: 250 "discarded", nothing delivered, one file
#     DIR/ID (mode 0600, 16 base32 characters) holding the message byte for
#     byte after the metadata; summary note quarantine=ID; a clean message
#     is not quarantined;
#   - the envelope is kept: MAIL params RET/ENVID and two recipients with
#     NOTIFY/ORCPT; `release` re-injects to [forward] with that envelope
#     (smtp-sink's X-Mail-Args / X-Rcpt-Args) and X-Quarantine-ID: <ID>;
#     the released copy has the header edits of a passed one (bank default
#     runs dkim-verify: the message's forged Authentication-Results with our
#     authserv-id is gone, ours, dkim=none, is right below X-Quarantine-ID);
#     `release --to` sends to that recipient only;
#   - `list` shows the entries with category, sender and recipients; `show`
#     the metadata, `show --message` the message; an unknown or malformed id
#     is an error (exit 1);
#   - pass + quarantine: delivered with X-Quarantine-ID: <ID>, and the file
#     exists;
#   - compress = true: DIR/ID.gz is gzip, and list/show/release read it;
#   - the quarantine cannot be written: 451, nothing delivered, the log says
#     why.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

PY=/usr/bin/python3
cd "$E2E_DIR"
take_ports P_IN P_KEEP P_GZ P_BROKEN P_SINK

run_sink sink "$P_SINK"
conf() {  # conf FILE QDIR COMPRESS LISTENERS
  cat >"$1" <<EOF
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

[quarantine]
dir = "$2"
compress = $3

[bank.default]
stages = ["dkim-verify", "decode"]
destiny = { bad-header = "discard" }
quarantine = ["bad-header", "virus"]

[bank.keep]
stages = ["decode"]
destiny = { bad-header = "pass" }
quarantine = ["bad-header"]
$4
EOF
  "$SIGIL" check-config "$1" >check-config.out 2>&1 || fail "check-config $1: $(cat check-config.out)"
}
conf main.toml "$E2E_DIR/q" false "
[[listener]]
address = \"127.0.0.1:$P_IN\"
[[listener]]
address = \"127.0.0.1:$P_KEEP\"
bank = \"keep\""
conf gz.toml "$E2E_DIR/qgz" true "
[[listener]]
address = \"127.0.0.1:$P_GZ\""
conf broken.toml "$E2E_DIR/afile/q" false "
[[listener]]
address = \"127.0.0.1:$P_BROKEN\""
run_sigild sigild main.toml "$P_IN"
run_sigild gz gz.toml "$P_GZ"
run_sigild broken broken.toml "$P_BROKEN"
# Broken after the start: sigild refuses to start on a quarantine dir it
# could not create (its start-up check), so the file appears only now.
: >afile

mkmsg() {  # mkmsg NAME WITH_FROM: $NAME.eml (CRLF)
  {
    [ "$2" = yes ] && printf 'From: <sender@example.org>\r\n'
    # A forged result claiming our authserv-id (smtp.hostname).
    printf 'Authentication-Results: sigil.e2e.test; dkim=pass header.d=forged.example\r\n'
    printf 'To: <rcpt@example.net>\r\nSubject: %s\r\n' "$1"
    printf 'Date: %s\r\nMessage-ID: <%s@e2e.test>\r\n\r\n' "$(LC_ALL=C date -R)" "$1"
    printf 'Hello,\r\nthis is message %s.\r\n' "$1"
  } >"$1.eml"
}
# send_dsn PORT FILE: MAIL with RET/ENVID, two RCPT with NOTIFY/ORCPT; prints the DATA reply.
send_dsn() {
  "$PY" - "$1" "$2" <<'PYEOF'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=60)
s.ehlo("client.e2e.test")
s.mail("sender@example.org", ["RET=HDRS", "ENVID=qtest1"])
s.rcpt("a@example.net", ["NOTIFY=FAILURE,DELAY", "ORCPT=rfc822;a@example.net"])
s.rcpt("b@example.net", ["NOTIFY=NEVER"])
try:
    code, text = s.data(open(sys.argv[2], "rb").read())
except smtplib.SMTPDataError as e:
    code, text = e.smtp_code, e.smtp_error
print(code, text.decode())
s.quit()
PYEOF
}
has() { grep -qE -- "$2" <<<"$1" || fail "$3: no line matching '$2' in:
$1"; }
id_of() { grep -oE 'quarantine=[a-z2-7]{16}' <<<"$1" | cut -d= -f2; }

# ------------------------------------------------------------ 1. discard + quarantine
mkmsg nofrom no
SEND_REPLY=$(send_dsn "$P_IN" nofrom.eml) || fail "client: $SEND_REPLY"
has "$SEND_REPLY" '^250 .*discarded' "nofrom reply"
NID=$(grep -oE '[0-9A-Z]{12}' <<<"$SEND_REPLY" | head -1)
line=$(LOG="$E2E_DIR/sigild.log" summary_of "$NID")
has "$line" 'action=discard' "nofrom summary"
QID=$(id_of "$line")
[ -n "$QID" ] || fail "no quarantine id in: $line"
[ -f "q/$QID" ] || fail "q/$QID missing: $(ls -la q)"
[ "$(stat -c %a "q/$QID")" = 600 ] || fail "q/$QID mode $(stat -c %a "q/$QID")"
# The message follows the metadata block byte for byte.
"$PY" - "q/$QID" nofrom.eml <<'PYEOF' || fail "stored message differs from the one sent"
import sys
data = open(sys.argv[1], "rb").read()
assert data.startswith(b"Sigil-Quarantine: 1\r\n"), data[:40]
meta, _, msg = data.partition(b"\r\n\r\n")
assert msg == open(sys.argv[2], "rb").read(), (len(msg),)
assert b"\r\nMail-From: sender@example.org\tRET=HDRS ENVID=qtest1\r\n" in meta, meta
assert b"\r\nRcpt-To: a@example.net\tNOTIFY=FAILURE,DELAY ORCPT=rfc822;a@example.net\r\n" in meta, meta
assert b"\r\nRcpt-To: b@example.net\tNOTIFY=NEVER\r\n" in meta, meta
assert b"\r\nCategory: bad-header (decode: missing From) action=discard\r\n" in meta, meta
PYEOF
[ -z "$(dump_files nofrom)" ] || fail "a discarded message was delivered"
mkmsg clean yes
send_msg "$P_IN" clean.eml 250
line=$(LOG="$E2E_DIR/sigild.log" summary_of "$LAST_ID")
if grep -q 'quarantine=' <<<"$line"; then fail "a clean message was quarantined: $line"; fi
dump_of clean >/dev/null
[ "$(find q -type f | wc -l)" -eq 1 ] || fail "expected one file in q: $(ls -la q)"
pass "discard + quarantine: file DIR/ID mode 0600 with the envelope and the message as received; clean mail not quarantined"

# ------------------------------------------------------------ 2. list, show, release
out=$("$SIGIL" quarantine list main.toml 2>&1) || fail "list: $out"
has "$out" "^$QID  .*bad-header \(decode: missing From\).*from <sender@example.org> to <a@example.net>, <b@example.net>" list
has "$out" '^1 message\(s\) in ' list
out=$("$SIGIL" quarantine show main.toml "$QID" 2>&1) || fail "show: $out"
has "$out" "^Log-Id: $NID$" show
has "$out" '^To: <a@example.net>, <b@example.net>$' show
out=$("$SIGIL" quarantine show main.toml "$QID" --message 2>&1) || fail "show --message: $out"
has "$out" '^this is message nofrom' "show --message"
if out=$("$SIGIL" quarantine show main.toml aaaaaaaaaaaaaaaa 2>&1); then fail "show of an unknown id succeeded: $out"; fi
has "$out" 'no quarantined message aaaaaaaaaaaaaaaa' "unknown id"
if out=$("$SIGIL" quarantine show main.toml ../../etc/passwd 2>&1); then fail "show of a path succeeded: $out"; fi
has "$out" 'is not a quarantine id' "malformed id"

out=$("$SIGIL" quarantine release main.toml "$QID" 2>&1) || fail "release: $out"
has "$out" "^$QID <a@example.net>: released" release
has "$out" "^$QID <b@example.net>: released" release
f=$(dump_of nofrom)
h=$(headers_of "$f")
has "$h" "^X-Quarantine-ID: <$QID>$" "released copy"
has "$h" '^X-Mail-Args: .*RET=HDRS' "released envelope"
has "$h" '^X-Mail-Args: .*ENVID=qtest1' "released envelope"
has "$h" '^X-Rcpt-Args: <a@example.net> NOTIFY=FAILURE,DELAY ORCPT=rfc822;a@example.net' "released envelope"
has "$h" '^X-Rcpt-Args: <b@example.net> NOTIFY=NEVER' "released envelope"
# The header a passed copy gets: the forged result gone, ours (made when
# the message was received) below X-Quarantine-ID.
if grep -q 'forged\.example' <<<"$h"; then fail "the released copy has the forged Authentication-Results: $h"; fi
[ "$(grep -c '^Authentication-Results: sigil\.e2e\.test;' <<<"$h")" -eq 1 ] || fail "released copy: want exactly our A-R in: $h"
has "$h" '^Authentication-Results: sigil\.e2e\.test; dkim=none$' "released copy"
grep -A1 '^X-Quarantine-ID:' <<<"$h" | grep -q '^Authentication-Results: sigil' || fail "released copy: our A-R is not right below X-Quarantine-ID: $h"
grep -q '^this is message nofrom' "$f" || fail "released body missing"
rm -f "$f"
out=$("$SIGIL" quarantine release main.toml "$QID" --to admin@example.net 2>&1) || fail "release --to: $out"
f=$(dump_of nofrom)
h=$(headers_of "$f")
has "$h" '^X-Rcpt-Args: <admin@example.net>' "release --to"
if grep -q '^X-Rcpt-Args: <a@example.net>' <<<"$h"; then fail "release --to also sent to the original recipient"; fi
rm -f "$f"
pass "list, show and release (original envelope with DSN parameters, X-Quarantine-ID, the header edits of a passed copy: forged A-R removed, ours added; --to)"

# ------------------------------------------------------------ 3. pass + quarantine
mkmsg kept no
send_msg "$P_KEEP" kept.eml 250
line=$(LOG="$E2E_DIR/sigild.log" summary_of "$LAST_ID")
has "$line" 'action=relayed' "kept summary"
KID=$(id_of "$line")
[ -n "$KID" ] && [ -f "q/$KID" ] || fail "kept: no quarantine file for: $line"
h=$(headers_of "$(dump_of kept)")
has "$h" "^X-Quarantine-ID: <$KID>$" "kept copy"
pass "pass + quarantine: delivered with X-Quarantine-ID, and stored"

# ------------------------------------------------------------ 4. compressed
mkmsg zipped no
send_msg "$P_GZ" zipped.eml 250
line=$(LOG="$E2E_DIR/gz.log" summary_of "$LAST_ID")
ZID=$(id_of "$line")
[ -n "$ZID" ] && [ -f "qgz/$ZID.gz" ] || fail "no qgz/ID.gz for: $line ($(ls qgz))"
gzip -t "qgz/$ZID.gz" || fail "qgz/$ZID.gz is not gzip"
zcat "qgz/$ZID.gz" | grep -q '^this is message zipped' || fail "gzip file lacks the message"
out=$("$SIGIL" quarantine list gz.toml 2>&1) || fail "list gz: $out"
has "$out" "^$ZID " "list gz"
out=$("$SIGIL" quarantine release gz.toml "$ZID" 2>&1) || fail "release gz: $out"
h=$(headers_of "$(dump_of zipped)")
has "$h" "^X-Quarantine-ID: <$ZID>$" "released gz copy"
pass "compress = true: ID.gz, listed and released"

# ------------------------------------------------------------ 5. unwritable
mkmsg lost no
send_msg "$P_BROKEN" lost.eml 451
line=$(LOG="$E2E_DIR/broken.log" summary_of "$LAST_ID")
has "$line" 'action=tempfail' "broken summary"
grep -q "quarantine failed, tempfailing the message: cannot create $E2E_DIR/afile/q" broken.log ||
  fail "broken: the reason is not logged"
sleep 0.5
[ -z "$(dump_files lost)" ] || fail "a message that could not be quarantined was delivered"
pass "quarantine not writable: 451 and a log line, nothing delivered"
