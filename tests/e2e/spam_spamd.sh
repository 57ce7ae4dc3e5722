#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.spam_spamd — the `spam` stage against a real SpamAssassin spamd
# (Debian's spamd, the rules shipped in /usr/share/spamassassin, -L: no
# network tests), between a Python SMTP client and smtp-sink.
#
# Peers: spamd on a loopback port (private home and site config dir, one
# child); sigild "main" with three listeners (banks default, discard, offset;
# a listener's bank is the whole policy, so each lists the stage)
# whose first scanner is a closed port and second the spamd (failover);
# sigild "down" and "downtf" whose only scanner is a closed port, with
# on_error continue and tempfail.
#
# Asserts, per message as captured by the sink and by sigild's summary line:
#   - ham (spooled: larger than memory_threshold, streamed from the spool
#     file) → delivered with X-Spam-Flag: NO, X-Spam-Score, X-Spam-Level and
#     X-Spam-Status: No, score=... tag=-999 tag2=6.2 kill=6.9 tests=[...]
#     (tag_level -999: always); the note names the scanner and the failed one;
#   - GTUBE, default destiny (pass) → delivered with X-Spam-Flag: YES, 64
#     stars, the subject tag, one Subject; summary category="spam (spam:
#     score 1000 >= kill 6.9) destiny=pass" (GTUBE alone is 1000; other
#     rules may add a little);
#   - GTUBE through bank destiny = { spam = "discard" } → 250, nothing
#     delivered, category="spam (...) destiny=discard";
#   - forged X-Spam-Flag: YES / X-Spam-Status / X-Spam-Score / X-Spam-Level
#     on a ham message → gone, ours there, the note counts them;
#   - spam_score_offset = -2000 and spam_tag_level = 2 (bank offset) → GTUBE
#     delivered untagged and without X-Spam-* fields (below tag_level), no
#     category, note "score=-1000 (spamd 1000, offset -2000)";
#   - a message above max_size → not scanned, delivered, note "skipped: too
#     large", no X-Spam-* fields;
#   - every scanner down → on_error continue: delivered, note "spamd
#     unavailable"; on_error tempfail: 451, nothing delivered;
#   - /metrics (docs/metrics.md): the ham's two spamd calls, one failure and
#     one failover; the tempfail sigild's one call, one failure, no failover;
#   - [recipients] local_domains: a GTUBE message to a local and a non-local
#     recipient → two copies, the local one tagged, the other without any
#     X-Spam-* field;
#   - [[recipient]] spam levels: GTUBE through the discard bank to rcpt@ and
#     tolerant@ (tag2 = kill = 2000) → one copy, to tolerant@, untagged.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

PY=/usr/bin/python3
SPAMD=$(command -v spamd || echo /usr/sbin/spamd)
[ -x "$SPAMD" ] || fail "spamd not installed (packages spamd, spamassassin)"
[ -f /usr/share/spamassassin/20_body_tests.cf ] ||
  fail "SpamAssassin's rules are not in /usr/share/spamassassin (package spamassassin)"

cd "$E2E_DIR"
take_ports P_IN P_DISC P_OFF P_DOWN P_DOWNTF P_SINK P_SPAMD P_DEAD PM_MAIN PM_DOWNTF

# ------------------------------------------------------------ spamd
# Site config: the .pre files (they load the plugins; without them spamd
# cannot scan) and a local.cf of our own; no per-user files (-x), no network
# tests (-L), no Bayes/auto-whitelist state outside $E2E_DIR.
mkdir -p sa-site sa-home
cp /etc/spamassassin/*.pre sa-site/ || fail "no /etc/spamassassin/*.pre (package spamassassin)"
cat >sa-site/local.cf <<'EOF'
use_bayes 0
bayes_auto_learn 0
EOF
SPAMD_USER=()
if [ "$(id -u)" -eq 0 ]; then
  chown nobody sa-home
  SPAMD_USER=(-u nobody)  # spamd refuses to check mail as root
fi
spawn spamd "$SPAMD" "${SPAMD_USER[@]}" -L -x -H "$E2E_DIR/sa-home" \
  --siteconfigpath="$E2E_DIR/sa-site" -i "127.0.0.1:$P_SPAMD" -A 127.0.0.1 \
  -m 2 --min-children=1 --syslog=stderr -r "$E2E_DIR/spamd.pid"

cat >spamc.py <<'PYEOF'
# spamc.py PORT CMD [FILE]: one SPAMC/1.5 request; prints the whole reply.
import socket, sys
port, cmd = int(sys.argv[1]), sys.argv[2]
body = open(sys.argv[3], "rb").read() if len(sys.argv) > 3 else b""
s = socket.create_connection(("127.0.0.1", port), timeout=30)
req = b"%s SPAMC/1.5\r\n" % cmd.encode()
if cmd != "PING":
    req += b"Content-length: %d\r\nUser: sigil\r\n" % len(body)
s.sendall(req + b"\r\n" + body)
out = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    out += d
sys.stdout.write(out.decode("utf-8", "replace"))
PYEOF
spamd_pong() { is_alive "$spamd_PID" && "$PY" spamc.py "$P_SPAMD" PING 2>/dev/null | grep -q PONG; }
until_true 60 spamd_pong || fail "spamd does not answer PING on $P_SPAMD"

GTUBE='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
mkmsg() {  # mkmsg NAME SUBJECT BODYLINE [EXTRA_HEADER...]: $NAME.eml (CRLF)
  local name=$1 subject=$2 line=$3 h
  shift 3
  {
    for h in "$@"; do printf '%s\r\n' "$h"; done
    printf 'From: <sender@example.org>\r\nTo: <rcpt@example.net>\r\nSubject: %s\r\n' "$subject"
    printf 'Date: %s\r\nMessage-ID: <%s@e2e.test>\r\n\r\n' "$(LC_ALL=C date -R)" "$name"
    printf 'Hello,\r\n%s\r\n' "$line"
  } >"$name.eml"
}
# The shipped rules must see GTUBE as spam before sigild is judged by it.
mkmsg probe "probe" "$GTUBE"
"$PY" spamc.py "$P_SPAMD" SYMBOLS probe.eml >probe.out || fail "spamc.py SYMBOLS failed"
grep -q '^Spam: True ; 1000' probe.out || fail "spamd does not score GTUBE as spam: $(cat probe.out)"
grep -q 'GTUBE' probe.out || fail "spamd's SYMBOLS lacks GTUBE: $(cat probe.out)"

# ------------------------------------------------------------ sigild x3
run_sink sink "$P_SINK"
conf() {  # conf FILE ON_ERROR SCANNERS LISTENERS_AND_BANKS
  cat >"$1" <<EOF
[daemon]
allow_root = true              # the tests run as root (CI)
log_level = "info"
drain_timeout = 5
spool_dir = "$E2E_DIR"
memory_threshold = 4096

[smtp]
hostname = "sigil.e2e.test"

[forward]
target = "smtp:[127.0.0.1]:$P_SINK"
connect_timeout = 5
reply_timeout = 30

[spam]
scanners = [ $3 ]
max_size = 20000
on_error = "$2"

[recipients]
local_domains = ["example.net"]

[[recipient]]
match = ["tolerant@example.net"]
spam_tag2_level = 2000
spam_kill_level = 2000

[bank.default]
stages = ["spam"]
$4
EOF
  "$SIGIL" check-config "$1" >check-config.out 2>&1 || fail "check-config $1: $(cat check-config.out)"
}
conf main.toml continue "{ name = \"dead\", address = \"127.0.0.1:$P_DEAD\", timeout = 5 },
  { name = \"local\", address = \"127.0.0.1:$P_SPAMD\", timeout = 60 }" "
[bank.discard]
stages = [\"spam\"]
destiny = { spam = \"discard\" }
[bank.offset]
stages = [\"spam\"]
spam_score_offset = -2000
spam_tag_level = 2

[[listener]]
name = \"in\"
address = \"127.0.0.1:$P_IN\"
[[listener]]
name = \"disc\"
address = \"127.0.0.1:$P_DISC\"
bank = \"discard\"
[[listener]]
name = \"off\"
address = \"127.0.0.1:$P_OFF\"
bank = \"offset\""
conf down.toml continue "{ name = \"gone\", address = \"127.0.0.1:$P_DEAD\", timeout = 5 }" "
[[listener]]
address = \"127.0.0.1:$P_DOWN\""
conf downtf.toml tempfail "{ name = \"gone\", address = \"127.0.0.1:$P_DEAD\", timeout = 5 }" "
[[listener]]
address = \"127.0.0.1:$P_DOWNTF\""
printf '\n[metrics]\naddress = "127.0.0.1:%s"\n' "$PM_MAIN" >>main.toml
printf '\n[metrics]\naddress = "127.0.0.1:%s"\n' "$PM_DOWNTF" >>downtf.toml
run_sigild sigild main.toml "$P_IN"
run_sigild down down.toml "$P_DOWN"
run_sigild downtf downtf.toml "$P_DOWNTF"

# ------------------------------------------------------------ helpers
summary() {  # summary LOGNAME ID: that sigild's summary line for ID
  LOG="$E2E_DIR/$1.log" summary_of "$2"
}
has() { grep -qE -- "$2" <<<"$1" || fail "$3: no line matching '$2' in:
$1"; }
hasnt() { if grep -qE -- "$2" <<<"$1"; then fail "$3: a line matches '$2' in:
$1"; fi; }
# count_of TEXT ERE: matching lines; 0 is an answer the caller checks (grep -c exits 1 then).
count_of() { grep -ciE -- "$2" <<<"$1" || true; }

# ------------------------------------------------------------ 1. ham, spooled
mkmsg ham "lunch" "shall we meet for lunch tomorrow?"
for i in $(seq 120); do printf 'Line %03d of a longer letter about the weather and the garden.\r\n' "$i"; done >>ham.eml
[ "$(stat -c %s ham.eml)" -gt 4096 ] && [ "$(stat -c %s ham.eml)" -lt 20000 ] || fail "ham.eml size"
send_msg "$P_IN" ham.eml 250
h=$(headers_of "$(dump_of ham)")
has "$h" '^X-Spam-Flag: NO$' ham
has "$h" '^X-Spam-Score: -?[0-9.]+$' ham
has "$h" '^X-Spam-Level:' ham
has "$h" '^X-Spam-Status: No, score=-?[0-9.]+ tag=-999 tag2=6.2 kill=6.9 tests=\[[A-Z_]+=-?[0-9.]+(, [A-Z_0-9]+=-?[0-9.]+)*\]$' ham
has "$h" '^Subject: lunch$' ham
line=$(summary sigild "$LAST_ID")
has "$line" 'spam="score=-?[0-9.]+ tests=[A-Z_,0-9]+ \(scanner local\)"' "ham summary"
has "$line" 'stages=spam:continue' "ham summary"
hasnt "$line" 'category=' "ham summary"
grep -qE "spam: scanner dead failed: connect" sigild.log || fail "the dead scanner's failure is not logged"
pass "ham: X-Spam-* headers at tag_level -999, spooled message scanned, failover to the second scanner"
# The ham message asked "dead" (failed, failed over) then "local".
METRICS_PORT=$PM_MAIN  # metric, want_metric (relay_lib.sh)
want_metric 2 sigil_scanner_calls_total scanner=spamd
want_metric 1 sigil_scanner_failures_total scanner=spamd
want_metric 1 sigil_scanner_failovers_total scanner=spamd
want_metric 0 sigil_scanner_calls_total scanner=rspamd
want_metric 0 sigil_spool_bytes  # ham was spooled (memory_threshold 4096), now done
pass "metrics: 2 spamd calls, 1 failure, 1 failover"

# ------------------------------------------------------------ 2. GTUBE, pass
mkmsg gtube "note one" "$GTUBE"
send_msg "$P_IN" gtube.eml 250
h=$(headers_of "$(dump_of gtube)")
has "$h" '^X-Spam-Flag: YES$' gtube
has "$h" '^X-Spam-Score: 10[0-9]{2}(\.[0-9]+)?$' gtube
has "$h" "^X-Spam-Level: \*{64}$" gtube
has "$h" '^X-Spam-Status: Yes, score=10[0-9]{2}(\.[0-9]+)? tag=-999 tag2=6.2 kill=6.9 tests=\[.*GTUBE=1000.*\]$' gtube
has "$h" '^Subject: \*\*\*Spam\*\*\* note one$' gtube
[ "$(count_of "$h" '^Subject:')" -eq 1 ] || fail "gtube: not exactly one Subject: $h"
line=$(summary sigild "$LAST_ID")
has "$line" 'category="spam \(spam: score 10[0-9]{2}(\.[0-9]+)? >= kill 6.9\) destiny=pass"' "gtube summary"
has "$line" 'spam="score=10[0-9]{2}(\.[0-9]+)? tests=[A-Z_,0-9]*GTUBE' "gtube summary"
pass "GTUBE: category spam, destiny pass: X-Spam-Flag: YES, subject tag, 64 stars"

# ------------------------------------------------------------ 3. GTUBE, discard
mkmsg gtube-discard "note two" "$GTUBE"
n0=$(dumps sink)
send_msg "$P_DISC" gtube-discard.eml 250
line=$(summary sigild "$LAST_ID")
has "$line" 'action=discard' "discard summary"
has "$line" 'category="spam \(spam: score 10[0-9]{2}(\.[0-9]+)? >= kill 6.9\) destiny=discard"' "discard summary"
sleep 0.5
[ "$(dumps sink)" -eq "$n0" ] || fail "gtube-discard was delivered: $(grep -l "^Message-ID:" sink/* | xargs grep -h "^Message-ID:")"
pass "GTUBE with destiny spam = discard: 250, nothing delivered"

# ------------------------------------------------------------ 4. forged X-Spam-*
mkmsg forged "hello" "nothing special here" "X-Spam-Flag: YES" "X-Spam-Score: 99" \
  "X-Spam-Level: ***" "X-Spam-Status: Yes, score=99 tests=FORGED" "x-spam-status: Yes, again"
send_msg "$P_IN" forged.eml 250
h=$(headers_of "$(dump_of forged)")
hasnt "$h" 'score=99|Yes, again|^X-Spam-Flag: YES|^X-Spam-Score: 99|^X-Spam-Level: \*\*\*$' forged
[ "$(count_of "$h" '^X-Spam-Status:')" -eq 1 ] || fail "forged: not exactly one X-Spam-Status: $h"
[ "$(count_of "$h" '^X-Spam-Flag:')" -eq 1 ] || fail "forged: not exactly one X-Spam-Flag: $h"
has "$h" '^X-Spam-Status: No, ' forged
line=$(summary sigild "$LAST_ID")
has "$line" 'removed 5 foreign X-Spam-\* fields' "forged summary"
pass "forged X-Spam-* fields removed, ours added"

# ------------------------------------------------------------ 5. offset
mkmsg gtube-offset "note three" "$GTUBE"
send_msg "$P_OFF" gtube-offset.eml 250
h=$(headers_of "$(dump_of gtube-offset)")
has "$h" '^Subject: note three$' gtube-offset
hasnt "$h" '^X-Spam-' gtube-offset  # below the bank's tag_level 2
line=$(summary sigild "$LAST_ID")
has "$line" 'spam="score=-(9[0-9]{2}|1000)(\.[0-9]+)? \(spamd 10[0-9]{2}(\.[0-9]+)?, offset -2000\) tests=' "offset summary"
hasnt "$line" 'category=' "offset summary"
pass "spam_score_offset -2000: GTUBE passes as not spam"

# ------------------------------------------------------------ 6. too large
mkmsg big "big one" "$GTUBE"
for i in $(seq 400); do printf 'Filler line %04d to get past max_size without being anything in particular.\r\n' "$i"; done >>big.eml
[ "$(stat -c %s big.eml)" -gt 20000 ] || fail "big.eml is not larger than max_size"
send_msg "$P_IN" big.eml 250
h=$(headers_of "$(dump_of big)")
hasnt "$h" '^X-Spam-' big
has "$h" '^Subject: big one$' big
line=$(summary sigild "$LAST_ID")
has "$line" 'spam="skipped: too large \([0-9]+ > max_size 20000\)"' "big summary"
hasnt "$line" 'category=' "big summary"
pass "a message above max_size is not scanned, delivered, note says so"

# ------------------------------------------------------------ 7. spamd down
mkmsg down-c "while down" "$GTUBE"
send_msg "$P_DOWN" down-c.eml 250
h=$(headers_of "$(dump_of down-c)")
hasnt "$h" '^X-Spam-' down-c
line=$(summary down "$LAST_ID")
has "$line" "spam=\"spamd unavailable: gone: connect: " "down summary"
hasnt "$line" 'category=' "down summary"

mkmsg down-tf "while down" "nothing"
n0=$(dumps sink)
send_msg "$P_DOWNTF" down-tf.eml 451
line=$(summary downtf "$LAST_ID")
has "$line" 'action=tempfail' "downtf summary"
has "$line" 'spam="spamd unavailable: gone: ' "downtf summary"
sleep 0.5
[ "$(dumps sink)" -eq "$n0" ] || fail "down-tf was delivered"
METRICS_PORT=$PM_DOWNTF
want_metric 1 sigil_scanner_calls_total scanner=spamd
want_metric 1 sigil_scanner_failures_total scanner=spamd
want_metric 0 sigil_scanner_failovers_total scanner=spamd  # no other scanner to ask
pass "every scanner down: on_error continue delivers with a note; tempfail answers 451 (counted)"

# ------------------------------------------------------------ 8. local recipients
# [recipients] local_domains = example.net: rcpt@example.net gets our
# X-Spam-* fields and the subject tag; outside@example.com gets neither (and
# no foreign X-Spam field either): two back-end copies, one 250.
mkmsg split "split me" "$GTUBE" "X-Spam-Flag: NO"
R=$("$PY" "$E2E_HERE/send_rcpts.py" "$P_IN" split.eml sender@example.org rcpt@example.net outside@example.com 2>&1) ||
  fail "split: client failed: $R"
has "$R" '^250 ' "split reply"
files=$(dump_files split)
[ "$(grep -c . <<<"$files")" -eq 2 ] || fail "split: want two copies, got: $files"
for f in $files; do
  h=$(headers_of "$f")
  if grep -q '^X-Rcpt-Args: <rcpt@example.net>' <<<"$h"; then
    has "$h" '^X-Spam-Flag: YES$' "split local copy"
    has "$h" '^Subject: \*\*\*Spam\*\*\* split me$' "split local copy"
  else
    has "$h" '^X-Rcpt-Args: <outside@example.com>' "split other copy"
    hasnt "$h" '^X-Spam-' "split non-local copy"
    has "$h" '^Subject: split me$' "split non-local copy"
  fi
done
pass "X-Spam-* fields and the subject tag go to local recipients only (two back-end transactions, one reply)"

# ------------------------------------------------------------ 9. levels per recipient
# tolerant@ has tag2 = kill = 2000: through the discard bank GTUBE (1000)
# is discarded for rcpt@ and delivered, untagged, to tolerant@.
mkmsg tolerant "for the tolerant" "$GTUBE"
R=$("$PY" "$E2E_HERE/send_rcpts.py" "$P_DISC" tolerant.eml sender@example.org rcpt@example.net tolerant@example.net 2>&1) ||
  fail "tolerant: client failed: $R"
has "$R" '^250 ' "tolerant reply"
h=$(headers_of "$(dump_of tolerant)")
has "$h" '^X-Rcpt-Args: <tolerant@example.net>' "tolerant copy"
hasnt "$h" '^X-Rcpt-Args: <rcpt@example.net>' "tolerant copy"
has "$h" '^X-Spam-Flag: NO$' "tolerant copy"
has "$h" '^X-Spam-Status: No, score=10[0-9]{2}(\.[0-9]+)? tag=-999 tag2=2000 kill=2000 ' "tolerant copy"
has "$h" '^Subject: for the tolerant$' "tolerant copy"
TID=$(grep -oE '[0-9A-Z]{12}' <<<"$R" | head -1)
has "$(summary sigild "$TID")" 'rcpt@example.net: discarded \(spam: score 10[0-9.]+ >= kill 6.9\); tolerant@example.net: delivered' "tolerant summary"
pass "spam levels per recipient: the same score is spam for one recipient and delivered untagged to another"

n=$(dumps sink)
[ "$n" -eq 9 ] || fail "the sink holds $n messages, want 9"
pass "spam stage with spamd: levels, headers, destinies, offset, size limit, on_error"
