#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.spam_rspamd — the `spam` stage against a real rspamd (Debian's rspamd,
# its shipped rules and modules), between a Python SMTP client and smtp-sink.
#
# Peers: rspamd with a private top-level config (stock $CONFDIR/common.conf
# for rules and modules; our own options, logging and one "normal" worker on
# a loopback port; no controller, proxy or fuzzy worker), LOCAL_CONFDIR,
# DBDIR, RUNDIR and the log in the test's directory.  Nothing leaves the
# machine: rspamd's only DNS server is an unused loopback port, the modules
# that look things up over the network (rbl, spf, dkim, dmarc, arc, asn,
# hfilter, phishing, fuzzy_check, multimap's https maps, ...) are disabled,
# no redis is configured (greylist, ratelimit, neural, ... switch themselves
# off), and the map downloads from maps.rspamd.com fail at that DNS.
# options { enable_test_patterns = true } makes rspamd honour GTUBE.  A Lua
# rule (rspamd.local.lua) adds symbols SIGIL_IP, SIGIL_HELO, SIGIL_HOSTNAME,
# SIGIL_FROM, SIGIL_RCPT, SIGIL_QID only when the request carried exactly the
# envelope we sent.
# sigild "main" (listeners in, disc: banks default and discard) whose first
# scanner is a closed port and second the rspamd (failover); sigild "down"
# and "downtf" whose only scanner is a closed port, on_error continue and
# tempfail.
#
# Asserts, per message as captured by the sink and by sigild's summary line:
#   - /metrics after the ham: 2 rspamd calls, 1 failure, 1 failover;
#   - ham (spooled: larger than memory_threshold) with XFORWARD ADDR, NAME and
#     HELO and two recipients → delivered with X-Spam-Flag: NO, X-Spam-Score,
#     X-Spam-Level, X-Spam-Status: No, score=... tag=-999 tag2=6.2 kill=6.9
#     tests=[...] listing rspamd's symbols with their scores, among them
#     all six SIGIL_* (rspamd got IP, Helo, Hostname, From, both Rcpt and a
#     Queue-Id); rspamd's own log line for the task shows qid = sigild's log
#     id, ip, from and rcpts; the note names the scanner; the dead one's
#     failure is logged;
#   - GTUBE, default destiny (pass) → rspamd's pre-result "reject", score 15
#     (= its required_score): X-Spam-Flag: YES, X-Spam-Score: 15, 15 stars,
#     tests=[GTUBE=0], the subject tag, category="spam (spam: score 15 >=
#     kill 6.9) destiny=pass";
#   - GTUBE through bank destiny = { spam = "discard" } → 250, nothing
#     delivered, category="spam (...) destiny=discard";
#   - a message above max_size → not scanned (rspamd logs no task for it),
#     delivered without X-Spam-* fields, note "skipped: too large";
#   - every scanner down → on_error continue: delivered, note "rspamd
#     unavailable: gone: connect: ..."; on_error tempfail: 451, nothing
#     delivered.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

PY=/usr/bin/python3
RSPAMD=$(command -v rspamd || echo /usr/bin/rspamd)
[ -x "$RSPAMD" ] || fail "rspamd not installed (package rspamd)"
[ -f /etc/rspamd/common.conf ] || fail "no /etc/rspamd/common.conf (package rspamd)"

cd "$E2E_DIR"
take_ports P_IN P_DISC P_DOWN P_DOWNTF P_SINK P_RSPAMD P_DEAD P_DNS PM

# ------------------------------------------------------------ rspamd
R="$E2E_DIR/rspamd"
mkdir -p "$R/local/local.d" "$R/db" "$R/run"
touch "$E2E_DIR/rspamd.log"
cat >"$R/rspamd.conf" <<EOF
# The stock rules, actions, groups and modules (each module still reads
# \$LOCAL_CONFDIR/local.d/<module>.conf, i.e. ours).
.include "\$CONFDIR/common.conf"
options {
  pidfile = "\$RUNDIR/rspamd.pid";
  .include "\$CONFDIR/options.inc"
  .include(priority=1,duplicate=merge) "\$LOCAL_CONFDIR/local.d/options.inc"
}
logging {
  type = "file";
  filename = "$E2E_DIR/rspamd.log";
  level = "info";
  .include "\$CONFDIR/logging.inc"
}
worker "normal" {
  bind_socket = "127.0.0.1:$P_RSPAMD";
  count = 1;
  mime = true;
}
EOF
cat >"$R/local/local.d/options.inc" <<EOF
enable_test_patterns = true;
dns {
  nameserver = ["127.0.0.1:$P_DNS"];
  timeout = 0.5s;
  retransmits = 1;
}
EOF
for m in rbl spf dkim dmarc arc asn hfilter phishing fuzzy_check neural reputation \
  url_redirector whitelist emails multimap dkim_signing external_services antivirus; do
  echo 'enabled = false;' >"$R/local/local.d/$m.conf"
done
cat >"$R/local/rspamd.local.lua" <<'EOF'
-- Symbols that show what sigild told rspamd (tests/e2e/spam_rspamd.sh).
local want = {
  ip = '192.0.2.7', helo = 'helo.sender.example', host = 'ptr.sender.example',
  from = 'sender@example.org', rcpt = 'rcpt@example.net,second@example.net',
}
local function sym(name, fn)
  rspamd_config:register_symbol({ name = name, score = 0.0, group = 'sigil', callback = fn })
end
sym('SIGIL_IP', function(task)
  local ip = task:get_from_ip()
  return ip and ip:is_valid() and ip:to_string() == want.ip
end)
sym('SIGIL_HELO', function(task) return task:get_helo() == want.helo end)
sym('SIGIL_HOSTNAME', function(task) return task:get_hostname() == want.host end)
sym('SIGIL_FROM', function(task)
  local f = task:get_from('smtp')
  return f ~= nil and f[1] ~= nil and f[1].addr == want.from
end)
sym('SIGIL_RCPT', function(task)
  local r = task:get_recipients('smtp')
  if not r then return false end
  local a = {}
  for _, x in ipairs(r) do a[#a + 1] = x.addr end
  return table.concat(a, ',') == want.rcpt
end)
sym('SIGIL_QID', function(task)
  local q = task:get_queue_id()
  return q ~= nil and q:match('^[0-9A-Z]+$') ~= nil
end)
EOF
RSPAMD_USER=()
if [ "$(id -u)" -eq 0 ]; then
  # rspamd refuses to run its workers as root (short of -i, "insecure").
  chown -R nobody "$R" "$E2E_DIR/rspamd.log"
  RSPAMD_USER=(-u nobody -g "$(id -gn nobody)")
fi
spawn rspamd_main "$RSPAMD" -f -c "$R/rspamd.conf" "${RSPAMD_USER[@]}" \
  --var "LOCAL_CONFDIR=$R/local" --var "DBDIR=$R/db" --var "RUNDIR=$R/run" --var "LOGDIR=$R"

cat >rspamc.py <<'PYEOF'
# rspamc.py PORT PATH [FILE]: one HTTP request to rspamd (GET, or POST with
# FILE); prints the whole reply.
import socket, sys
port, path = int(sys.argv[1]), sys.argv[2]
body = open(sys.argv[3], "rb").read() if len(sys.argv) > 3 else None
s = socket.create_connection(("127.0.0.1", port), timeout=30)
if body is None:
    s.sendall(b"GET %s HTTP/1.0\r\n\r\n" % path.encode())
else:
    s.sendall(b"POST %s HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % (path.encode(), len(body)) + body)
out = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    out += d
sys.stdout.write(out.decode("utf-8", "replace"))
PYEOF
rspamd_pong() { is_alive "$rspamd_main_PID" && "$PY" rspamc.py "$P_RSPAMD" /ping 2>/dev/null | grep -q pong; }
# Loading the rules and compiling the TLD list takes a while on 2 cores.
until_true 90 rspamd_pong || fail "rspamd does not answer /ping on $P_RSPAMD"

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
# rspamd must see GTUBE as a forced reject before sigild is judged by it.
mkmsg probe "probe" "$GTUBE"
"$PY" rspamc.py "$P_RSPAMD" /checkv2 probe.eml >probe.out || fail "rspamc.py /checkv2 failed"
grep -q '^HTTP/1.[01] 200' probe.out || fail "rspamd's checkv2 failed: $(cat probe.out)"
grep -q '"action":"reject"' probe.out || fail "rspamd does not reject GTUBE: $(cat probe.out)"
grep -q '"GTUBE"' probe.out || fail "rspamd's reply lacks GTUBE: $(cat probe.out)"

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

[bank.default]
stages = ["spam"]
$4
EOF
  "$SIGIL" check-config "$1" >check-config.out 2>&1 || fail "check-config $1: $(cat check-config.out)"
}
conf main.toml continue "{ kind = \"rspamd\", name = \"dead\", address = \"127.0.0.1:$P_DEAD\", timeout = 5 },
  { kind = \"rspamd\", name = \"local\", address = \"127.0.0.1:$P_RSPAMD\", timeout = 60 }" "
[bank.discard]
stages = [\"spam\"]
destiny = { spam = \"discard\" }

[[listener]]
name = \"in\"
address = \"127.0.0.1:$P_IN\"
[[listener]]
name = \"disc\"
address = \"127.0.0.1:$P_DISC\"
bank = \"discard\""
conf down.toml continue "{ kind = \"rspamd\", name = \"gone\", address = \"127.0.0.1:$P_DEAD\", timeout = 5 }" "
[[listener]]
address = \"127.0.0.1:$P_DOWN\""
conf downtf.toml tempfail "{ kind = \"rspamd\", name = \"gone\", address = \"127.0.0.1:$P_DEAD\", timeout = 5 }" "
[[listener]]
address = \"127.0.0.1:$P_DOWNTF\""
printf '\n[metrics]\naddress = "127.0.0.1:%s"\n' "$PM" >>main.toml
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
# rspamd_tasks: rspamd's per-task log lines so far (0 is an answer).
rspamd_tasks() { grep -c 'rspamd_task_write_log' "$E2E_DIR/rspamd.log" || true; }

# xsend.py PORT FILE XFORWARD RCPT...: EHLO client.e2e.test, one XFORWARD
# command, MAIL FROM:<sender@example.org>, the RCPTs, DATA with FILE as is;
# prints the DATA reply as "CODE text".
cat >xsend.py <<'PYEOF'
import smtplib, sys
port, path, xf, rcpts = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
s = smtplib.SMTP("127.0.0.1", port, timeout=120)
s.ehlo("client.e2e.test")
code, text = s.docmd("XFORWARD", xf)
if code != 250: sys.exit("XFORWARD: %d %s" % (code, text.decode()))
code, text = s.mail("sender@example.org")
if code != 250: sys.exit("MAIL: %d %s" % (code, text.decode()))
for r in rcpts:
    code, text = s.rcpt(r)
    if code not in (250, 251): sys.exit("RCPT %s: %d %s" % (r, code, text.decode()))
try:
    code, text = s.data(open(path, "rb").read())
except smtplib.SMTPDataError as e:
    code, text = e.smtp_code, e.smtp_error
print(code, text.decode("utf-8", "replace"))
s.quit()
PYEOF

# ------------------------------------------------------------ 1. ham, spooled, envelope
mkmsg ham "lunch" "shall we meet for lunch tomorrow?"
for i in $(seq 120); do printf 'Line %03d of a longer letter about the weather and the garden.\r\n' "$i"; done >>ham.eml
size=$(stat -c %s ham.eml)
[ "$size" -gt 4096 ] || fail "ham.eml ($size bytes) would not be spooled"
[ "$size" -lt 20000 ] || fail "ham.eml ($size bytes) is above max_size"
SEND_REPLY=$("$PY" xsend.py "$P_IN" ham.eml \
  "ADDR=192.0.2.7 NAME=ptr.sender.example HELO=helo.sender.example" \
  rcpt@example.net second@example.net 2>&1) || fail "ham: client failed: $SEND_REPLY"
[ "${SEND_REPLY%% *}" = 250 ] || fail "ham: got '$SEND_REPLY', want 250"
# No id in the reply is caught just below (grep exits 1 then).
LAST_ID=$({ grep -oE '[0-9A-Z]{12}' <<<"$SEND_REPLY" || true; } | head -1)
[ -n "$LAST_ID" ] || fail "ham: no log id in the reply: $SEND_REPLY"
h=$(headers_of "$(dump_of ham)")
has "$h" '^X-Spam-Flag: NO$' ham
has "$h" '^X-Spam-Score: -?[0-9.]+$' ham
has "$h" '^X-Spam-Level:' ham
has "$h" '^X-Spam-Status: No, score=-?[0-9.]+ tag=-999 tag2=6.2 kill=6.9 tests=\[[A-Z_0-9]+=-?[0-9.]+(, [A-Z_0-9]+=-?[0-9.]+)*\]$' ham
for s in SIGIL_IP SIGIL_HELO SIGIL_HOSTNAME SIGIL_FROM SIGIL_RCPT SIGIL_QID; do
  has "$h" "^X-Spam-Status: .*[[ ]$s=0[],]" "ham: rspamd did not see the envelope ($s)"
done
has "$h" '^Subject: lunch$' ham
line=$(summary sigild "$LAST_ID")
has "$line" 'spam="score=-?[0-9.]+ tests=[A-Z_,0-9]*SIGIL_FROM[A-Z_,0-9]* \(scanner local\)"' "ham summary"
has "$line" 'stages=spam:continue' "ham summary"
hasnt "$line" 'category=' "ham summary"
grep -qE "spam: scanner dead failed: connect" sigild.log || fail "the dead scanner's failure is not logged"
# rspamd's own word: "qid: <ID>, ip: 192.0.2.7, from: <...>, ..., rcpts: <a,b>".
# No such line (grep exits 1) is caught by the test just below.
rl=$(grep -F "qid: <$LAST_ID>" "$E2E_DIR/rspamd.log" | grep rspamd_task_write_log || true)
[ -n "$rl" ] || fail "rspamd logged no task with qid $LAST_ID"
has "$rl" "ip: 192\.0\.2\.7, from: <sender@example\.org>" "rspamd's log line"
has "$rl" "rcpts: <rcpt@example\.net,second@example\.net>" "rspamd's log line"
pass "ham: X-Spam-* headers from rspamd's score and symbols; rspamd got IP, Helo, Hostname, From, both Rcpt and the Queue-Id; failover"
# The ham message asked "dead" (failed, failed over) then rspamd.
METRICS_PORT=$PM  # metric, want_metric (relay_lib.sh)
want_metric 2 sigil_scanner_calls_total scanner=rspamd
want_metric 1 sigil_scanner_failures_total scanner=rspamd
want_metric 1 sigil_scanner_failovers_total scanner=rspamd
want_metric 0 sigil_scanner_calls_total scanner=spamd
pass "metrics: 2 rspamd calls, 1 failure, 1 failover"

# ------------------------------------------------------------ 2. GTUBE, pass
mkmsg gtube "note one" "$GTUBE"
send_msg "$P_IN" gtube.eml 250
h=$(headers_of "$(dump_of gtube)")
has "$h" '^X-Spam-Flag: YES$' gtube
has "$h" '^X-Spam-Score: 15$' gtube
has "$h" "^X-Spam-Level: \*{15}$" gtube
has "$h" '^X-Spam-Status: Yes, score=15 tag=-999 tag2=6.2 kill=6.9 tests=\[GTUBE=0\]$' gtube
has "$h" '^Subject: \*\*\*Spam\*\*\* note one$' gtube
[ "$(count_of "$h" '^Subject:')" -eq 1 ] || fail "gtube: not exactly one Subject: $h"
line=$(summary sigild "$LAST_ID")
has "$line" 'category="spam \(spam: score 15 >= kill 6.9\) destiny=pass"' "gtube summary"
has "$line" 'spam="score=15 tests=GTUBE \(scanner local\)"' "gtube summary"
pass "GTUBE: rspamd's forced reject at score 15, category spam, destiny pass: X-Spam-Flag: YES, subject tag"

# ------------------------------------------------------------ 3. GTUBE, discard
mkmsg gtube-discard "note two" "$GTUBE"
n0=$(dumps sink)
send_msg "$P_DISC" gtube-discard.eml 250
line=$(summary sigild "$LAST_ID")
has "$line" 'action=discard' "discard summary"
has "$line" 'category="spam \(spam: score 15 >= kill 6.9\) destiny=discard"' "discard summary"
sleep 0.5
[ "$(dumps sink)" -eq "$n0" ] || fail "gtube-discard was delivered"
pass "GTUBE with destiny spam = discard: 250, nothing delivered"

# ------------------------------------------------------------ 4. too large
mkmsg big "big one" "$GTUBE"
for i in $(seq 400); do printf 'Filler line %04d to get past max_size without being anything in particular.\r\n' "$i"; done >>big.eml
[ "$(stat -c %s big.eml)" -gt 20000 ] || fail "big.eml is not larger than max_size"
t0=$(rspamd_tasks)
send_msg "$P_IN" big.eml 250
h=$(headers_of "$(dump_of big)")
hasnt "$h" '^X-Spam-' big
has "$h" '^Subject: big one$' big
line=$(summary sigild "$LAST_ID")
has "$line" 'spam="skipped: too large \([0-9]+ > max_size 20000\)"' "big summary"
hasnt "$line" 'category=' "big summary"
[ "$(rspamd_tasks)" -eq "$t0" ] || fail "rspamd scanned the message above max_size"
pass "a message above max_size is not sent to rspamd, delivered, note says so"

# ------------------------------------------------------------ 5. rspamd down
mkmsg down-c "while down" "$GTUBE"
send_msg "$P_DOWN" down-c.eml 250
h=$(headers_of "$(dump_of down-c)")
hasnt "$h" '^X-Spam-' down-c
line=$(summary down "$LAST_ID")
has "$line" "spam=\"rspamd unavailable: gone: connect: " "down summary"
hasnt "$line" 'category=' "down summary"

mkmsg down-tf "while down" "nothing"
n0=$(dumps sink)
send_msg "$P_DOWNTF" down-tf.eml 451
line=$(summary downtf "$LAST_ID")
has "$line" 'action=tempfail' "downtf summary"
has "$line" 'spam="rspamd unavailable: gone: ' "downtf summary"
sleep 0.5
[ "$(dumps sink)" -eq "$n0" ] || fail "down-tf was delivered"
pass "rspamd down: on_error continue delivers with a note; tempfail answers 451"

n=$(dumps sink)
[ "$n" -eq 4 ] || fail "the sink holds $n messages, want 4"
is_alive "$rspamd_main_PID" || fail "rspamd died during the test"
pass "spam stage with rspamd: envelope, levels, headers, destinies, size limit, on_error"
