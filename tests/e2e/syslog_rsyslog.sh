#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.syslog_rsyslog — log_target = "syslog" into a real rsyslogd, and what
# the summary line carries (docs: the summary line; core/log_sinks.hpp).
#
# rsyslogd runs with a configuration of this test's own: imuxsock on a
# socket in the work directory (not /dev/log: SysSock.Use="off"), mail.*
# into mail.log and everything else into other.log, each line written as
# "FACILITY SEVERITY TAG MSG"; its own pid file; stopped by PID.  sigild's
# [daemon] syslog_socket points at that socket: the same code as with
# /dev/log, only the path differs.  One sigild with three listeners: `in`
# (after-queue) and `px` (proxy), both xforward_hosts = ["127.0.0.1/32"],
# and `ml` (milter); [forward] is an smtp-sink.
#
#   1. text form: a message from 127.0.0.1 with XFORWARD IDENT=QAQ1 and
#      twelve recipients through `in`; one with IDENT=QPX1 and three through
#      `px`; from 127.0.0.2 (not trusted) XFORWARD IDENT=FAKE1 gets 550 and
#      the summary has no queue_id; on `ml` miltertest (milter/queue_id.lua)
#      sends a message with macro i at MAIL (QMLM1) and a raw milter client
#      one with macro i only at end of message (QMLE1), seven recipients
#      each.  Every summary line lands in
#      mail.log with facility mail, severity info and tag sigild[PID]; the
#      refused XFORWARD is a "warning"; nothing of sigild's in other.log;
#      each carries its queue_id, rcpts=N, the first five recipients,
#      rcpt_more, and its Message-ID.
#   2. SIGHUP with log_json = true and log_facility = "local3": the facility
#      stays mail (a warning says the target changes on restart) and the
#      same four sources give summary lines that are each one JSON object
#      (parsed with Python's json), with the same fields.
#   3. rsyslogd restarted (a new socket): the next summary still arrives.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

RSYSLOGD=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
[ -x "$RSYSLOGD" ] || fail "rsyslogd not installed (package rsyslog)"
MILTERTEST=$(command -v miltertest || echo /usr/bin/miltertest)
[ -x "$MILTERTEST" ] || fail "miltertest not installed (package miltertest)"
python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null ||
  fail "cannot bind 127.0.0.2 (loopback is 127.0.0.0/8 on Linux)"

take_ports P_IN P_PX P_ML P_SINK
SOCK="$E2E_DIR/log.sock"
MAILLOG="$E2E_DIR/mail.log"
OTHERLOG="$E2E_DIR/other.log"
mkdir "$E2E_DIR/rsyslog"

# ------------------------------------------------------------------ rsyslogd
cat >"$E2E_DIR/rsyslog.conf" <<EOF
global(workDirectory="$E2E_DIR/rsyslog")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="$SOCK" RateLimit.Interval="0")
template(name="e2e" type="string"
         string="%syslogfacility-text% %syslogseverity-text% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\n")
mail.* action(type="omfile" file="$MAILLOG" template="e2e")
*.*;mail.none action(type="omfile" file="$OTHERLOG" template="e2e")
EOF
"$RSYSLOGD" -N1 -f "$E2E_DIR/rsyslog.conf" >"$E2E_DIR/rsyslog-check.out" 2>&1 ||
  fail "rsyslogd refuses the test's configuration: $(cat "$E2E_DIR/rsyslog-check.out")"
# start_rsyslogd NAME: rsyslogd in the foreground (-n), PID in NAME_PID;
# waits for its socket.
start_rsyslogd() {
  rm -f "$SOCK"
  spawn "$1" "$RSYSLOGD" -n -f "$E2E_DIR/rsyslog.conf" -i "$E2E_DIR/$1.pid"
  until_true 10 test -S "$SOCK" || fail "rsyslogd made no socket $SOCK"
}
start_rsyslogd rsyslogd

# ------------------------------------------------------------------ sigild
run_sink sink "$P_SINK"
CFG="$E2E_DIR/sigil.toml"
cat >"$CFG" <<EOF
[daemon]
log_level = "info"
log_json = false
log_target = "syslog"
log_facility = "mail"
syslog_socket = "$SOCK"
allow_root = true            # the test runs as root in CI
drain_timeout = 5
spool_dir = "$E2E_DIR"
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
xforward_hosts = ["127.0.0.1/32"]
[[listener]]
name = "px"
mode = "proxy"
address = "127.0.0.1:$P_PX"
bank = "default"
xforward_hosts = ["127.0.0.1/32"]
[[listener]]
name = "ml"
mode = "milter"
address = "127.0.0.1:$P_ML"
bank = "default"
[bank.default]
stages = []
EOF
"$SIGIL" check-config "$CFG" >"$E2E_DIR/check.out" 2>&1 || fail "config refused: $(cat "$E2E_DIR/check.out")"
spawn sigild "$SIGILD" -c "$CFG"
# Everything sigild says goes to syslog: it is listening once mail.log says so.
until_true 10 log_has "$MAILLOG" "^mail info sigild\[$sigild_PID\]: .*listening on 127\.0\.0\.1:$P_ML " ||
  fail "no 'listening' line of sigild in $MAILLOG: $(cat "$MAILLOG" 2>/dev/null)"
for p in "$P_IN" "$P_PX" "$P_ML"; do until_true 10 port_open "$p" || fail "nothing on port $p"; done
[ ! -s "$E2E_DIR/sigild.log" ] || fail "sigild wrote to stderr with log_target = syslog: $(cat "$E2E_DIR/sigild.log")"

# send.py PORT SOURCE NAME NRCPT [XFORWARD-ARGS...]: from SOURCE, each
# XFORWARD (prints "xforward CODE"), one message with NRCPT recipients
# rN-NAME@example.net and Message-ID <NAME@e2e.test> (prints "data CODE TEXT").
cat >"$E2E_DIR/send.py" <<'PYEOF'
import smtplib, sys
port, src, name, n, xfs = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
s = smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(src, 0))
s.ehlo("client.e2e.test")
for x in xfs:
    print("xforward", s.docmd("XFORWARD", x)[0])
rcpts = ["r%d-%s@example.net" % (i, name) for i in range(1, n + 1)]
msg = ("From: <alice@example.com>\r\nTo: <r1-%s@example.net>\r\nSubject: %s\r\n"
       "Message-ID: <%s@e2e.test>\r\n\r\nbody of %s\r\n" % (name, name, name, name))
s.mail("alice@example.com")
for r in rcpts:
    s.rcpt(r)
code, text = s.data(msg.encode())
print("data", code, text.decode())
s.quit()
PYEOF
# send PORT SOURCE NAME NRCPT [XFORWARD-ARGS...]: OUT = send.py's output; the
# message must be accepted.
send() {
  OUT=$(python3 "$E2E_DIR/send.py" "$@" 2>&1) || fail "send $*: $OUT"
  grep -qE '^data 250 ' <<<"$OUT" || fail "send $*: message not accepted: $OUT"
}
# milter_eom.py PORT QID: one message over a raw milter connection (the
# protocol as Postfix speaks it, all SMFIP_NR_* steps offered), seven
# recipients, Message-ID <QID@e2e.test>, the queue id QID as macro i only
# at end of message (milter_end_of_data_macros; miltertest cannot send it
# there).  Prints "eom CMD".
cat >"$E2E_DIR/milter_eom.py" <<'PYEOF'
import socket, struct, sys
port, qid = int(sys.argv[1]), sys.argv[2].encode()
def pkt(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data
s = socket.create_connection(("127.0.0.1", port), timeout=10)
buf = b""
def reply():
    global buf
    while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
        d = s.recv(65536)
        if not d:
            sys.exit("sigild closed the milter connection")
        buf += d
    n = struct.unpack(">I", buf[:4])[0]
    p, buf = buf[4:4 + n], buf[4 + n:]
    return p[:1]
s.sendall(pkt(b"O", struct.pack(">III", 6, 0x1FF, 0x1FFFFF)))
assert reply() == b"O"
s.sendall(pkt(b"C", b"client.example\0" + b"4" + struct.pack(">H", 4321) + b"192.0.2.1\0"))
s.sendall(pkt(b"M", b"<alice@example.com>\0"))
assert reply() == b"c", "MAIL"
for i in range(1, 8):
    s.sendall(pkt(b"R", b"<m%d@example.org>\0" % i))
    assert reply() == b"c", "RCPT"
for name, value in ((b"From", b" <alice@example.com>"), (b"Message-ID", b" <" + qid + b"@e2e.test>")):
    s.sendall(pkt(b"L", name + b"\0" + value + b"\0"))
s.sendall(pkt(b"N") + pkt(b"B", b"body of " + qid + b"\r\n"))
s.sendall(pkt(b"D", b"Ei\0" + qid + b"\0") + pkt(b"E"))
while True:
    c = reply()
    if c in (b"c", b"a", b"r", b"t", b"d", b"y"):
        break
print("eom", c.decode())
s.sendall(pkt(b"Q"))
PYEOF
# milter SUFFIX: miltertest's message QMLMSUFFIX (macro i with MAIL) and
# milter_eom.py's QMLESUFFIX (macro i at end of message) on the milter listener.
milter() {
  "$MILTERTEST" -D HERE="$E2E_HERE/milter" -D SCRIPT=queue_id.lua -D QID="QMLM$1" \
    -D PORT_MILTER="$P_ML" -D LOG=/dev/null -s "$E2E_HERE/milter/run.lua" >"$E2E_DIR/mt-$1.out" 2>&1 ||
    fail "miltertest queue_id.lua $1: $(cat "$E2E_DIR/mt-$1.out")"
  OUT=$(python3 "$E2E_DIR/milter_eom.py" "$P_ML" "QMLE$1" 2>&1) || fail "milter_eom.py QMLE$1: $OUT"
  [ "$OUT" = "eom c" ] || fail "milter_eom.py QMLE$1: $OUT, want eom c"
}
# traffic SUFFIX: the four sources; names and queue ids end in SUFFIX.
traffic() {
  send "$P_IN" 127.0.0.1 "aq$1" 12 "IDENT=QAQ$1 ADDR=192.0.2.7"
  grep -qx 'xforward 250' <<<"$OUT" || fail "XFORWARD from 127.0.0.1 on in: $OUT"
  send "$P_PX" 127.0.0.1 "px$1" 3 "IDENT=QPX$1"
  grep -qx 'xforward 250' <<<"$OUT" || fail "XFORWARD from 127.0.0.1 on px: $OUT"
  send "$P_IN" 127.0.0.2 "un$1" 1 "IDENT=FAKE$1"
  grep -qx 'xforward 550' <<<"$OUT" || fail "XFORWARD from 127.0.0.2 was not refused: $OUT"
  milter "$1"
  until_true 10 at_least 5 summaries_with "$1" || fail "want 5 summary lines for round $1, got $(summaries_with "$1")"
}
# summaries_with SUFFIX: summary lines of round SUFFIX in mail.log (their
# Message-ID ends in SUFFIX@e2e.test).
# (grep -c exits 1 when it counts 0; the count is what at_least checks.)
summaries_with() { { grep -cE "[a-zA-Z]+$1@e2e\.test" "$MAILLOG" || true; }; }

# The checks of both forms, in Python: FORM (text|json) SUFFIX.
cat >"$E2E_DIR/check.py" <<'PYEOF'
import json, re, sys
form, sfx, maillog, pid = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
line_re = re.compile(r"^(\S+) (\S+) sigild\[(\d+)\]: (.*)$")
def fail(msg):
    sys.exit("FAIL: " + msg)

def text_fields(msg):
    """key=value and key="quoted \"value\"" pairs of a text summary."""
    out, i = {}, 0
    for m in re.finditer(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', msg):
        v = m.group(2)
        if v.startswith('"'):
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        out[m.group(1)] = v
    return out

summaries = {}
for raw in open(maillog, encoding="utf-8"):
    m = line_re.match(raw.rstrip("\n"))
    if not m:
        continue
    fac, sev, p, msg = m.groups()
    if p != pid:
        continue
    if fac != "mail":
        fail("facility %s, want mail: %s" % (fac, raw))
    if form == "json" and msg.startswith("{"):
        try:
            obj = json.loads(msg)
        except ValueError as e:
            fail("a summary line is not one JSON object (%s): %r" % (e, msg))
        if sev != "info":
            fail("severity %s for a summary: %s" % (sev, raw))
        mid = obj.get("message_id") or ""
        if mid.endswith(sfx + "@e2e.test>"):
            summaries[mid] = obj
    elif form == "text" and msg.startswith("msg: id="):
        f = text_fields(msg)
        if sev != "info":
            fail("severity %s for a summary: %s" % (sev, raw))
        if f.get("message_id", "").endswith(sfx + "@e2e.test>"):
            f["rcpts"] = int(f["rcpts"])
            f["rcpt"] = [a.strip("<>") for a in f["rcpt"].split(",")] if "rcpt" in f else []
            f["rcpt_more"] = int(f.get("rcpt_more", 0))
            summaries[f["message_id"]] = f

def want(name, queue_id, n, rcpt_form, action="relayed"):
    mid = "<%s@e2e.test>" % name
    s = summaries.get(mid)
    if s is None:
        fail("no %s summary with message_id %s; have %s" % (form, mid, sorted(summaries)))
    got_q = s.get("queue_id")
    if got_q != queue_id:
        fail("%s: queue_id %r, want %r: %s" % (name, got_q, queue_id, s))
    shown = [rcpt_form(i) for i in range(1, min(n, 5) + 1)]
    if s["rcpts"] != n or s["rcpt"] != shown or s["rcpt_more"] != max(0, n - 5):
        fail("%s: rcpts=%s rcpt=%s rcpt_more=%s, want %d %s %d" %
             (name, s["rcpts"], s["rcpt"], s["rcpt_more"], n, shown, max(0, n - 5)))
    if s["action"] != action:
        fail("%s: action %s" % (name, s["action"]))

smtp_rcpt = lambda name: (lambda i: "r%d-%s@example.net" % (i, name))
want("aq" + sfx, "QAQ" + sfx, 12, smtp_rcpt("aq" + sfx))
want("px" + sfx, "QPX" + sfx, 3, smtp_rcpt("px" + sfx))
want("un" + sfx, None, 1, smtp_rcpt("un" + sfx))
for st in ("M", "E"):
    want("QML%s%s" % (st, sfx), "QML%s%s" % (st, sfx), 7, lambda i: "m%d@example.org" % i)
print("ok: %d %s summaries of round %s" % (len(summaries), form, sfx))
PYEOF
check() {
  python3 "$E2E_DIR/check.py" "$1" "$2" "$MAILLOG" "$sigild_PID" >"$E2E_DIR/check-$2.out" 2>&1 ||
    fail "$(cat "$E2E_DIR/check-$2.out")"
}

# ------------------------------------------------ 1. text form
traffic 1
check text 1
log_has "$MAILLOG" "^mail warning sigild\[$sigild_PID\]: smtp: 127\.0\.0\.2: XFORWARD refused" ||
  fail "the refused XFORWARD is not a mail.warning line"
grep -q 'FAKE1' "$MAILLOG" && fail "the untrusted IDENT=FAKE1 reached the log: $(grep FAKE1 "$MAILLOG")"
! grep -q 'sigild' "$OTHERLOG" 2>/dev/null || fail "sigild lines outside facility mail: $(cat "$OTHERLOG")"
grep -qE "^mail info sigild\[$sigild_PID\]: msg: id=[0-9A-Z]{12} queue_id=QAQ1 client=\[192\.0\.2\.7\]:[0-9]+ .* rcpts=12 rcpt=<r1-aq1@example\.net>,<r2-aq1@example\.net>,<r3-aq1@example\.net>,<r4-aq1@example\.net>,<r5-aq1@example\.net> rcpt_more=7 message_id=<aq1@e2e\.test> size=" "$MAILLOG" ||
  fail "the after-queue summary is not in the documented text form: $(grep 'aq1@e2e' "$MAILLOG")"
pass "text: summaries in mail.log (facility mail, info, tag sigild[$sigild_PID]) with queue_id from XFORWARD IDENT (in, px) and macro i (MAIL, EOM), rcpts/rcpt/rcpt_more, message_id; untrusted IDENT not believed"

# ------------------------------------------------ 2. JSON after a reload
sed -i 's/^log_json = false/log_json = true/; s/^log_facility = "mail"/log_facility = "local3"/' "$CFG"
kill -HUP "$sigild_PID"
until_true 10 log_has "$MAILLOG" "^mail info sigild\[$sigild_PID\]: sigild: configuration reloaded from" ||
  fail "no 'configuration reloaded' in $MAILLOG"
log_has "$MAILLOG" "^mail warning sigild\[$sigild_PID\]: sigild: reload: log_target, log_facility and syslog_socket take effect only on restart" ||
  fail "no warning that log_facility changes on restart only"
traffic 2
check json 2
# Every summary line after the reload is one JSON object, nothing before it.
python3 - "$MAILLOG" "$sigild_PID" >"$E2E_DIR/json-all.out" 2>&1 <<'PYEOF' || fail "$(cat "$E2E_DIR/json-all.out")"
import json, sys
n, reloaded = 0, False
for raw in open(sys.argv[1], encoding="utf-8"):
    head, _, msg = raw.rstrip("\n").partition("]: ")
    if not head.endswith("sigild[" + sys.argv[2]):
        continue
    if "configuration reloaded" in msg:
        reloaded = True
    elif reloaded and msg.startswith("msg:"):
        sys.exit("FAIL: a text summary after log_json = true: " + raw)
    elif reloaded and msg.startswith("{"):
        obj = json.loads(msg)
        assert isinstance(obj, dict) and len(obj["id"]) == 12, raw
        n += 1
if n != 5:
    sys.exit("FAIL: %d JSON summary lines after the reload, want 5" % n)
print("ok", n)
PYEOF
pass "json: after SIGHUP each summary is one JSON object (parsed), same fields; log_facility kept until restart"

# ------------------------------------------------ 3. rsyslogd restarts
forget "$rsyslogd_PID"
start_rsyslogd rsyslogd2
send "$P_IN" 127.0.0.1 "after-restart3" 1 "IDENT=QRS3"
until_true 10 log_has "$MAILLOG" '"queue_id":"QRS3"' || fail "no summary after rsyslogd restarted"
pass "rsyslogd restarted with a new socket: sigild reconnects, the next summary arrives"

stop_pid "$sigild_PID" || fail "sigild did not stop on SIGTERM"
wait_rc "$sigild_PID"
[ "$WAIT_RC" -eq 0 ] || fail "sigild exited with $WAIT_RC"
