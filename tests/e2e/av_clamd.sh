#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.av_clamd — the `av` stage against real clamd daemons (Debian's
# clamav-daemon) with a signature database built here with sigtool: no
# freshclam, no internet.  sigild (stages = ["av"]) sits between a Python SMTP
# client and smtp-sink.
#
# The database (all ClamAV accepts in a bare DatabaseDirectory; clamd starts
# with it alone, no main/daily needed, and names the signatures
# "<name>.UNOFFICIAL" because the files are unsigned):
#   sigil.ndb  Eicar-Test-Signature-Local: the EICAR string anywhere;
#              Sigil-Test-Signature: a string of our own
#   sigil.hdb  Sigil-Test-Hash: the MD5 of a random file (sigtool --md5),
#              found when that file is a base64 attachment (clamd decodes MIME)
# Peers: clamd "main" (Unix socket and TCP), clamd "small" (StreamMaxLength
# 64 KiB: a real "INSTREAM size limit exceeded. ERROR"), and a Python server
# that accepts and never answers (a hung clamd: the one fault a real clamd
# will not produce on demand).
#
# Asserts:
#   - clean → delivered, av="clean (scanner local)";
#   - EICAR in a plain body, our string, our hash in an attachment → 250
#     "discarded", not delivered, category="virus (av: ...) destiny=discard";
#   - a bank with destiny virus = "pass" → delivered with X-Sigil-Alert;
#   - a spooled message (> memory_threshold) with EICAR at its very end →
#     found; a large clean one → delivered byte for byte;
#   - primary on a dead socket → answered by the backup (TCP), the note names
#     it and the failure; clamd's size-limit ERROR → next scanner;
#   - every scanner down (dead socket, closed port, hung peer) → 451, nothing
#     delivered; with on_error = "continue" → delivered, category unchecked;
#   - a hung scanner past its timeout → the next one answers;
#   - a message larger than max_size → not scanned, unchecked, delivered;
#   - /metrics (docs/metrics.md) counts the clamd calls, failures and
#     failovers of B and C exactly.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

PY=/usr/bin/python3
CLAMD=$(command -v clamd || echo /usr/sbin/clamd)
[ -x "$CLAMD" ] || fail "clamd not installed (package clamav-daemon)"
command -v sigtool >/dev/null || fail "sigtool not installed (package clamav)"

cd "$E2E_DIR"
take_ports P_IN P_PASS P_SINK P_CLAM P_HANG P_DEAD PM_B PM_C

# ------------------------------------------------------------ signatures
EICAR='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
OWN='SIGIL-AV-TEST-7f3a9c0e-not-a-virus'
mkdir db
printf '%s' "$EICAR" >eicar.com
[ "$(md5sum <eicar.com | cut -d' ' -f1)" = 44d88612fea8a8f36de82e1278abb02f ] || fail "EICAR string mangled"
{
  printf 'Eicar-Test-Signature-Local:0:*:%s\n' "$(sigtool --hex-dump <eicar.com | tr -d '\n')"
  printf 'Sigil-Test-Signature:0:*:%s\n' "$(printf '%s' "$OWN" | sigtool --hex-dump | tr -d '\n')"
} >db/sigil.ndb
head -c 3000 /dev/urandom >blob.bin
sigtool --md5 blob.bin | sed 's/:blob\.bin$/:Sigil-Test-Hash/' >db/sigil.hdb
grep -q ':3000:Sigil-Test-Hash$' db/sigil.hdb || fail "sigtool --md5: $(cat db/sigil.hdb)"

# ------------------------------------------------------------ clamd x2
clamd_conf() {  # clamd_conf NAME [extra lines]: $E2E_DIR/NAME.conf
  local name=$1
  shift
  {
    echo "LocalSocket $E2E_DIR/$name.sock"
    echo "DatabaseDirectory $E2E_DIR/db"
    echo "TemporaryDirectory $E2E_DIR"
    echo "Foreground yes"
    echo "LogFile $E2E_DIR/$name-clamd.log"
    echo "LogTime yes"
    # Root keeps root (no User line: clamd drops privileges only when told).
    printf '%s\n' "$@"
  } >"$E2E_DIR/$name.conf"
}
clamd_conf main "TCPSocket $P_CLAM" "TCPAddr 127.0.0.1"
clamd_conf small "StreamMaxLength 64K"
spawn clamd_main "$CLAMD" -c "$E2E_DIR/main.conf"
spawn clamd_small "$CLAMD" -c "$E2E_DIR/small.conf"

# clamd_ping unix:PATH | tcp:PORT — PONG over the given socket.
clamd_ping() {
  "$PY" - "$1" <<'PYEOF' 2>/dev/null
import socket, sys
a = sys.argv[1]
if a.startswith("unix:"):
    s = socket.socket(socket.AF_UNIX); s.settimeout(1); s.connect(a[5:])
else:
    s = socket.socket(); s.settimeout(1); s.connect(("127.0.0.1", int(a[4:])))
s.sendall(b"zPING\0")
sys.exit(0 if s.recv(64).startswith(b"PONG") else 1)
PYEOF
}
# Loading three signatures takes about a second; give a loaded machine 60.
until_true 60 clamd_ping "unix:$E2E_DIR/main.sock" || fail "clamd main does not answer"
until_true 60 clamd_ping "tcp:$P_CLAM" || fail "clamd main does not answer on TCP $P_CLAM"
until_true 60 clamd_ping "unix:$E2E_DIR/small.sock" || fail "clamd small does not answer"
grep -q 'Loaded 3 signatures' main-clamd.log || fail "clamd did not load our 3 signatures: $(grep -i 'load' main-clamd.log)"

# A scanner that accepts, reads everything and never answers.
cat >hang.py <<'PYEOF'
import socket, sys, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(16)
def drain(c):
    while c.recv(65536):
        pass
while True:
    c, _ = srv.accept()
    threading.Thread(target=drain, args=(c,), daemon=True).start()
PYEOF
spawn hang "$PY" hang.py "$P_HANG"
until_true 10 port_open "$P_HANG" || fail "hang server not listening"
# P_DEAD stays reserved and closed: connection refused.  A Unix path nobody serves:
DEAD_SOCK="$E2E_DIR/nobody.sock"

# ------------------------------------------------------------ sigild
run_sink sink "$P_SINK"
LOG="$E2E_DIR/sigild.log"
CFG="$E2E_DIR/sigil.toml"
# start_sigild '[av] TOML': (re)starts sigild with stages = ["av"] on P_IN
# and a bank passing viruses on P_PASS.
start_sigild() {
  if [ -n "${sigild_PID:-}" ]; then forget "$sigild_PID"; fi
  cat >"$CFG" <<EOF
[daemon]
allow_root = true              # the tests run as root (CI)
log_level = "info"
drain_timeout = 5
spool_dir = "$E2E_DIR"
memory_threshold = 65536

[smtp]
hostname = "sigil.e2e.test"

[forward]
target = "smtp:[127.0.0.1]:$P_SINK"
connect_timeout = 5
reply_timeout = 30

[[listener]]
name = "in"
address = "127.0.0.1:$P_IN"
bank = "default"

[[listener]]
name = "pass"
address = "127.0.0.1:$P_PASS"
bank = "passvirus"

[bank.default]
stages = ["av"]

[bank.passvirus]
stages = ["av"]
destiny = { virus = "pass" }

$1
EOF
  # /metrics on METRICS_PORT when set (one port per start: no rebinding).
  if [ -n "${METRICS_PORT:-}" ]; then
    printf '\n[metrics]\naddress = "127.0.0.1:%s"\n' "$METRICS_PORT" >>"$CFG"
  fi
  "$SIGIL" check-config "$CFG" >check-config.out 2>&1 || fail "check-config: $(cat check-config.out)"
  run_sigild sigild "$CFG" "$P_IN"
}

# ------------------------------------------------------------ messages
# mkmsg NAME BODYFILE|-: $NAME.eml with Message-ID <NAME@e2e.test>; the body
# from BODYFILE (CRLF lines) or a plain greeting.
mkmsg() {
  local name=$1 body=${2:--}
  {
    printf 'From: <a@example.org>\r\nTo: <rcpt@example.net>\r\nSubject: av %s\r\n' "$name"
    printf 'Date: %s\r\nMessage-ID: <%s@e2e.test>\r\n' "$(LC_ALL=C date -R)" "$name"
    if [ "$body" = - ]; then printf '\r\nHello,\r\nthis is %s.\r\n' "$name"; else cat "$body"; fi
  } >"$name.eml"
}

# send_msg (relay_lib.sh): a 90 s client timeout.
SEND_TIMEOUT=90
delivered() { [ -n "$(dump_files "$1")" ]; }

# expect NAME PORT CODE_ERE SUMMARY_ERE... : send, check the reply code and
# the summary line.
expect() {
  local name=$1 port=$2 code=$3 line pat
  shift 3
  send_msg "$port" "$name.eml"
  grep -qE "^($code) " <<<"$SEND_REPLY" || fail "$name: reply '$SEND_REPLY', want $code"
  line=$(summary_of "$LAST_ID")
  for pat in "$@"; do
    grep -qE -- "$pat" <<<"$line" || fail "$name: summary does not match '$pat': $line"
  done
  SUMMARY=$line
}
must_deliver() { dump_of "$1" >/dev/null; }  # NAME arrives, exactly once
must_not_deliver() {
  # The reply comes after the back-end's, so a delivery would be there now.
  delivered "$1" && fail "$1 was delivered, but must not be"
  return 0
}

# ===================== A: local clamd (Unix) + backup (TCP), everything up
start_sigild "[av]
scanners = [ { name = \"local\", address = \"unix:$E2E_DIR/main.sock\", timeout = 20 },
             { name = \"backup\", address = \"127.0.0.1:$P_CLAM\", timeout = 20 } ]"

mkmsg clean
expect clean "$P_IN" 250 'stages=av:continue:' 'av="clean \(scanner local\)"' 'action=relayed'
must_deliver clean
grep -q '^X-Sigil-Alert' "$(dump_of clean)" && fail "clean: has an X-Sigil-Alert"
pass "clean message delivered, av=clean (scanner local)"

printf '\r\n%s\r\n' "$EICAR" >eicar.body
mkmsg eicar eicar.body
expect eicar "$P_IN" 250 'av="INFECTED Eicar-Test-Signature-Local\.UNOFFICIAL \(scanner local\)"' \
  'category="virus \(av: Eicar-Test-Signature-Local\.UNOFFICIAL\) destiny=discard"' 'action=discard'
grep -q 'discarded' <<<"$SEND_REPLY" || fail "eicar: reply does not say discarded: $SEND_REPLY"
must_not_deliver eicar
pass "EICAR in a plain body: $SEND_REPLY"

printf '\r\nHello,\r\nthe marker is %s in a line.\r\n' "$OWN" >own.body
mkmsg own own.body
expect own "$P_IN" 250 'category="virus \(av: Sigil-Test-Signature\.UNOFFICIAL\) destiny=discard"'
must_not_deliver own
pass "own body signature found and discarded"

{
  printf 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n'
  printf -- '--b0\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n'
  printf -- '--b0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n'
  printf 'Content-Disposition: attachment; filename="blob.bin"\r\n\r\n'
  base64 -w 76 blob.bin | sed 's/$/\r/'
  printf -- '--b0--\r\n'
} >hash.body
mkmsg hash hash.body
expect hash "$P_IN" 250 'category="virus \(av: Sigil-Test-Hash\.UNOFFICIAL\) destiny=discard"'
must_not_deliver hash
pass "hash signature (.hdb) found in a base64 attachment"

mkmsg eicar-pass eicar.body
expect eicar-pass "$P_PASS" 250 'bank=passvirus' \
  'category="virus \(av: Eicar-Test-Signature-Local\.UNOFFICIAL\) destiny=pass"' 'action=relayed'
must_deliver eicar-pass
f=$(dump_of eicar-pass)
[ "$(headers_of "$f" | grep -c '^X-Sigil-Alert:')" -eq 1 ] || fail "eicar-pass: want one X-Sigil-Alert: $(headers_of "$f")"
headers_of "$f" | grep -qx 'X-Sigil-Alert: INFECTED, message contains virus: Eicar-Test-Signature-Local.UNOFFICIAL' ||
  fail "eicar-pass: X-Sigil-Alert wrong: $(headers_of "$f" | grep X-Sigil)"
pass "destiny virus=pass: delivered with X-Sigil-Alert"

# Spooled (3 MB > memory_threshold 64 KiB), EICAR in the very last line.
"$PY" - <<'PYEOF'
line = b"The quick brown fox jumps over the lazy dog, 0123456789 abcdefghij.\r\n"
open("big.body", "wb").write(b"\r\n" + line * (3 * 1024 * 1024 // len(line)))
open("bigclean.body", "wb").write(b"\r\n" + line * (3 * 1024 * 1024 // len(line)))
PYEOF
printf '%s\r\n' "$EICAR" >>big.body
mkmsg big big.body
expect big "$P_IN" 250 'category="virus \(av: Eicar-Test-Signature-Local\.UNOFFICIAL\) destiny=discard"' \
  'size=3[0-9]{6} '
must_not_deliver big
mkmsg bigclean bigclean.body
expect bigclean "$P_IN" 250 'av="clean \(scanner local\)"' 'action=relayed'
must_deliver bigclean
# smtp-sink stores lines with LF and ends its file with an empty line:
# compare the bodies without CR and without that line.
cmp -s <(tr -d '\r' <"$(dump_of bigclean)" | sed -n '/^$/,$p' | sed '${/^$/d}') \
  <(tr -d '\r' <bigclean.eml | sed -n '/^$/,$p') ||
  fail "bigclean: the delivered body differs from the one sent"
pass "spooled 3 MB message: EICAR at its end found; a clean one delivered intact"

# ===================== B: dead primary, size-limited clamd, TCP backup
METRICS_PORT=$PM_B  # start_sigild; metric, want_metric (relay_lib.sh)
start_sigild "[av]
scanners = [ { name = \"primary\", address = \"unix:$DEAD_SOCK\", timeout = 5 },
             { name = \"small\", address = \"unix:$E2E_DIR/small.sock\", timeout = 10 },
             { name = \"backup\", address = \"127.0.0.1:$P_CLAM\", timeout = 20 } ]"
mkmsg failover eicar.body
expect failover "$P_IN" 250 \
  'av="INFECTED Eicar-Test-Signature-Local\.UNOFFICIAL \(scanner small; primary: connect: [^"]*\)"' \
  'action=discard'
must_not_deliver failover
log_has "$LOG" "av: scanner primary \(unix:$DEAD_SOCK\) failed: connect:" || fail "no warning for the dead primary"
pass "dead primary: answered by the next scanner, note names both"

mkmsg limit bigclean.body
expect limit "$P_IN" 250 \
  'av="clean \(scanner backup; primary: connect: [^;]*; small: clamd: INSTREAM size limit exceeded\. ERROR\)"' \
  'action=relayed'
must_deliver limit
mkmsg limit-eicar big.body
expect limit-eicar "$P_IN" 250 'av="INFECTED Eicar-Test-Signature-Local\.UNOFFICIAL \(scanner backup; .*small: clamd: INSTREAM size limit exceeded\. ERROR\)"'
must_not_deliver limit-eicar
pass "clamd's size-limit ERROR: next scanner (TCP backup) scans the 3 MB message"
# failover: primary failed, small answered; limit and limit-eicar: primary
# and small failed, backup answered.
want_metric 8 sigil_scanner_calls_total scanner=clamd
want_metric 5 sigil_scanner_failures_total scanner=clamd
want_metric 5 sigil_scanner_failovers_total scanner=clamd
want_metric 0 sigil_scanner_calls_total scanner=spamd
want_metric 0 sigil_spool_bytes
pass "metrics: 8 clamd calls, 5 failures, 5 failovers"

# ===================== C: everything down, default on_error (tempfail)
METRICS_PORT=$PM_C
ALL_DOWN="scanners = [ { name = \"gone\", address = \"unix:$DEAD_SOCK\", timeout = 5 },
             { name = \"closed\", address = \"127.0.0.1:$P_DEAD\", timeout = 5 },
             { name = \"hung\", address = \"127.0.0.1:$P_HANG\", timeout = 2 } ]"
start_sigild "[av]
$ALL_DOWN"
mkmsg down eicar.body
t0=$(date +%s)
expect down "$P_IN" 451 'action=tempfail' \
  'av="no scanner answered \(gone: connect: [^;]*; closed: connect: Connection refused; hung: timed out after 2s\)"'
grep -q 'av: no scanner answered' <<<"$SEND_REPLY" || fail "down: reply lacks the reason: $SEND_REPLY"
[ $(($(date +%s) - t0)) -lt 15 ] || fail "down: took $(($(date +%s) - t0)) s"
must_not_deliver down
mkmsg down-clean
expect down-clean "$P_IN" 451 'action=tempfail'
must_not_deliver down-clean
pass "all scanners down (dead socket, refused port, hung peer): 451, nothing delivered"
# Two messages, three failed calls each; the last of each is no failover.
want_metric 6 sigil_scanner_calls_total scanner=clamd
want_metric 6 sigil_scanner_failures_total scanner=clamd
want_metric 4 sigil_scanner_failovers_total scanner=clamd
want_metric 2 sigil_messages_total listener=in bank=default action=tempfail
pass "metrics: 6 clamd calls, 6 failures, 4 failovers, 2 tempfails"
METRICS_PORT=  # D and E: no endpoint

# ===================== D: everything down, on_error = continue
start_sigild "[av]
on_error = \"continue\"
$ALL_DOWN"
mkmsg down-continue
expect down-continue "$P_IN" 250 'action=relayed' \
  'category="unchecked \(av: no scanner answered\) destiny=pass"'
must_deliver down-continue
pass "all scanners down, on_error=continue: delivered, category unchecked"

# ===================== E: a hung primary; max_size
start_sigild "[av]
max_size = 100000
scanners = [ { name = \"hung\", address = \"127.0.0.1:$P_HANG\", timeout = 2 },
             { name = \"local\", address = \"unix:$E2E_DIR/main.sock\", timeout = 20 } ]"
mkmsg hung eicar.body
expect hung "$P_IN" 250 \
  'av="INFECTED Eicar-Test-Signature-Local\.UNOFFICIAL \(scanner local; hung: timed out after 2s\)"' \
  'action=discard'
must_not_deliver hung
pass "hung primary: timed out after 2 s, the next scanner answered"

mkmsg toolarge big.body
expect toolarge "$P_IN" 250 'action=relayed' 'av="not scanned: [0-9]+ bytes, max_size 100000"' \
  'category="unchecked \(av: too large for av\) destiny=pass"'
must_deliver toolarge
pass "larger than max_size: not scanned, unchecked, delivered"

n=$(dumps sink)
[ "$n" -eq 6 ] || fail "the sink holds $n messages, want 6 (clean, eicar-pass, bigclean, limit, down-continue, toolarge)"
pass "av: clamd INSTREAM over Unix and TCP, failover, size-limit ERROR, hung scanner, tempfail/continue, max_size"
