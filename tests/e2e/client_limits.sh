#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.client_limits — one client cannot hold sessions: smtp.data_timeout
# bounds the whole DATA of a message, smtp.max_sessions_per_client the
# connections from one address (docs/operations.md "Overload", "Protecting the input").
#
# sigild with data_timeout = 2, max_sessions_per_client = 2 and the listener's
# xforward_hosts = ["127.0.0.1/32"] (its MTA, exempt from the limit); the
# back-end is an smtp-sink.
#   1. A client that trickles its DATA one byte every 0.3 s (each read well
#      within command_timeout) gets 421 4.4.2 "... data timeout" 2 s after
#      the 354 (within 1.5..5 s), the connection is closed, the summary says
#      action=timeout-in-data, a log line names smtp.data_timeout, and the
#      sink received nothing.
#   2. Two connections from 127.0.0.2 are served; a third gets 421 4.7.0
#      "too many connections from your address" (logged, naming the
#      address), while 127.0.0.3 is served and its message delivered; once
#      one of the two has quit, 127.0.0.2 is served again; three connections
#      from the MTA (127.0.0.1) are all served.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

take_ports P_IN P_SINK
run_sink sink "$P_SINK"
CFG="$E2E_DIR/sigil.toml"
sigil_config "$CFG" "$P_IN" "smtp:[127.0.0.1]:$P_SINK"
python3 - "$CFG" <<'PY'
import sys
path = sys.argv[1]
s = open(path).read()
for old, new in (('hostname = "sigil.e2e.test"\n',
                  'hostname = "sigil.e2e.test"\ndata_timeout = 2\nmax_sessions_per_client = 2\n'),
                 ('name = "e2e"\n', 'name = "e2e"\nxforward_hosts = ["127.0.0.1/32"]\n')):
    assert old in s, "sigil_config changed: " + old
    s = s.replace(old, new, 1)
open(path, "w").write(s)
PY
"$SIGIL" check-config "$CFG" >"$E2E_DIR/check.out" 2>&1 || fail "config refused: $(cat "$E2E_DIR/check.out")"
run_sigild sigild "$CFG" "$P_IN"
LOG="$E2E_DIR/sigild.log"
python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null ||
  fail "cannot bind 127.0.0.2 (loopback is 127.0.0.0/8 on Linux)"

# ------------------------------------------------ 1. DATA trickled a byte at a time
# trickle.py PORT: MAIL, RCPT, DATA, then one byte every 0.3 s until sigild
# answers (10 s at most); prints "reply SECONDS CODE TEXT" (seconds since the
# 354) and then "eof" once sigild has closed the connection.
cat >"$E2E_DIR/trickle.py" <<'PYEOF'
import select, socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = c.makefile("rb")
def reply():
    while True:
        line = f.readline().decode().rstrip("\r\n")
        if len(line) < 4 or line[3] != "-":
            return line
reply()
for cmd in ("EHLO trickle.e2e.test", "MAIL FROM:<a@example.org>", "RCPT TO:<b@example.net>", "DATA"):
    c.sendall(cmd.encode() + b"\r\n")
    r = reply()
assert r.startswith("354"), r
t0 = time.monotonic()
data = b"Subject: trickle\r\n\r\n" + b"x" * 200 + b"\r\n"
i = 0
while time.monotonic() - t0 < 10:
    if select.select([c], [], [], 0.3)[0]:
        print("reply %.2f %s" % (time.monotonic() - t0, reply()), flush=True)
        c.settimeout(5)
        try:
            eof = c.recv(1) == b""
        except ConnectionResetError:
            eof = True  # our last trickled bytes met the closed socket
        print("eof" if eof else "still open")
        sys.exit(0)
    try:
        c.sendall(data[i % len(data):i % len(data) + 1])
    except OSError:
        pass  # closed under us: the reply is still to be read
    i += 1
print("no reply within 10 s")
PYEOF
out=$(python3 "$E2E_DIR/trickle.py" "$P_IN" 2>&1) || fail "trickle.py: $out"
read -r _ secs code enh rest <<<"$(grep '^reply ' <<<"$out")" || fail "no reply to the trickle: $out"
[[ "$code $enh" == "421 4.4.2" && "$rest" == *"data timeout"* ]] ||
  fail "trickled DATA: want 421 4.4.2 ... data timeout, got: $out"
awk -v s="$secs" 'BEGIN { exit !(s >= 1.5 && s <= 5) }' || fail "421 came ${secs}s after the 354, want 2 s (1.5..5)"
grep -qx eof <<<"$out" || fail "connection not closed after the data timeout: $out"
until_true 5 log_has "$LOG" ' msg: id=[0-9A-Z]{12} .*action=timeout-in-data' ||
  fail "no timeout-in-data summary line"
log_has "$LOG" 'overran smtp.data_timeout during DATA' || fail "no log line naming smtp.data_timeout"
sleep 0.5
[ "$(dumps sink)" -eq 0 ] || fail "the trickled message reached the sink"
pass "DATA trickled at 1 byte / 0.3 s: '$code $enh' after ${secs}s, timeout-in-data, nothing relayed"

# ------------------------------------------------ 2. connections per client address
# conns.py PORT: the scenario of the header, one line per step
# ("NAME CODE TEXT" or "NAME EOF").
cat >"$E2E_DIR/conns.py" <<'PYEOF'
import socket, sys
port = int(sys.argv[1])
def connect(src):
    c = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(src, 0))
    return c, c.makefile("rb")
def line(name, f):
    l = f.readline().decode().rstrip("\r\n")
    print(name, l if l else "EOF", flush=True)
    return l
def cmd(name, c, f, text):
    c.sendall(text.encode() + b"\r\n")
    while True:
        l = line(name, f)
        if len(l) < 4 or l[3] != "-":
            return l
a1, fa1 = connect("127.0.0.2"); line("a1", fa1)
a2, fa2 = connect("127.0.0.2"); line("a2", fa2)
a3, fa3 = connect("127.0.0.2"); line("a3", fa3); line("a3-after", fa3)
b, fb = connect("127.0.0.3"); line("b", fb)
cmd("b-ehlo", b, fb, "EHLO b.e2e.test")
cmd("b-mail", b, fb, "MAIL FROM:<b@example.org>")
cmd("b-rcpt", b, fb, "RCPT TO:<rcpt@example.net>")
cmd("b-data", b, fb, "DATA")
cmd("b-dot", b, fb, "Subject: from 127.0.0.3\r\nMessage-ID: <b3@e2e.test>\r\n\r\nhello\r\n.")
cmd("a1-quit", a1, fa1, "QUIT"); line("a1-after", fa1)
a4, fa4 = connect("127.0.0.2"); line("a4", fa4)
for i in range(3):
    m, fm = connect("127.0.0.1"); line("mta%d" % i, fm)
PYEOF
out=$(python3 "$E2E_DIR/conns.py" "$P_IN" 2>&1) || fail "conns.py: $out"
echo "$out" >"$E2E_DIR/conns.out"
step() { grep -E "^$1 " <<<"$out" | tail -n 1 | cut -d' ' -f2-; }
[[ "$(step a1)" == 220* && "$(step a2)" == 220* ]] || fail "127.0.0.2's first two connections: $out"
[[ "$(step a3)" == "421 4.7.0 "*"too many connections from your address"* ]] ||
  fail "127.0.0.2's third connection: want 421 4.7.0, got '$(step a3)'"
[ "$(step a3-after)" = EOF ] || fail "the refused connection was not closed: $(step a3-after)"
log_has "$LOG" 'listener e2e: 127\.0\.0\.2 has 2 sessions open \(smtp.max_sessions_per_client\)' ||
  fail "no log line naming 127.0.0.2 for the refused connection"
[[ "$(step b)" == 220* && "$(step b-dot)" == 250* ]] ||
  fail "127.0.0.3 was not served beside 127.0.0.2's two sessions: $out"
dump_of b3 >/dev/null
[[ "$(step a4)" == 220* ]] || fail "127.0.0.2 not served again after one of its sessions quit: $(step a4)"
for i in 0 1 2; do
  [[ "$(step mta$i)" == 220* ]] || fail "the MTA (127.0.0.1, xforward_hosts) was limited: $out"
done
pass "127.0.0.2: 2 served, the 3rd → 421 4.7.0 (logged), served again after a QUIT; 127.0.0.3 served and delivered; 127.0.0.1 exempt"
