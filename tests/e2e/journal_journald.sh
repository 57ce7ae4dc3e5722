#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.journal_journald — log_target = "journal" into a real systemd-journald
# (core/log_sinks.hpp).
#
# The machine's journal is not touched: the script runs itself again in a
# private mount namespace (unshare -m, so it needs root; else skipped) in
# which /run and /var/log/journal are empty tmpfs mounts
# and journald.conf says Storage=volatile and forwards nowhere.  There it
# starts /lib/systemd/systemd-journald (stopped by PID), which makes
# /run/systemd/journal/socket, the path libsystemd sends to, and one sigild
# (log_target = "journal", log_json = true) with an after-queue listener
# that trusts 127.0.0.1's XFORWARD, forwarding to an smtp-sink.
#
# Asserts, read back with journalctl -D (-o json): one message with
# XFORWARD IDENT=QJ1 and seven recipients gives one entry from sigild's PID
# with SYSLOG_IDENTIFIER=sigild, SYSLOG_FACILITY=2 (mail), PRIORITY=6,
# SIGIL_LOGGER=msg and a MESSAGE that is one JSON object (queue_id QJ1,
# rcpts 7, five listed, rcpt_more 2, message_id); the start line is there
# with SIGIL_LOGGER=sigild; sigild wrote nothing to stderr.
if [ -z "${SIGIL_E2E_NAMESPACE:-}" ]; then
  [ "$(id -u)" -eq 0 ] || { echo "skip: needs root for a private mount namespace"; exit 77; }
  command -v unshare >/dev/null || { echo "skip: no unshare (package util-linux)"; exit 77; }
  [ -x /lib/systemd/systemd-journald ] || { echo "skip: no systemd-journald"; exit 77; }
  unshare -m true 2>/dev/null || { echo "skip: unshare -m refused here"; exit 77; }
  SIGIL_E2E_NAMESPACE=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

# ------------------------------------------------ a private journal
mount -t tmpfs tmpfs /run || fail "cannot mount a tmpfs on /run"
mkdir -p /run/systemd /run/log
if [ -d /var/log/journal ]; then
  mount -t tmpfs tmpfs /var/log/journal || fail "cannot mount a tmpfs on /var/log/journal"
fi
printf '[Journal]\nStorage=volatile\nForwardToSyslog=no\nForwardToWall=no\nForwardToConsole=no\nForwardToKMsg=no\n' \
  >"$E2E_DIR/journald.conf"
[ -f /etc/systemd/journald.conf ] || fail "no /etc/systemd/journald.conf to bind over (package systemd)"
mount --bind "$E2E_DIR/journald.conf" /etc/systemd/journald.conf ||
  fail "cannot bind the test's journald.conf"
spawn journald /lib/systemd/systemd-journald
until_true 10 test -S /run/systemd/journal/socket || fail "journald made no socket: $(cat "$E2E_DIR/journald.log")"

# ------------------------------------------------ sigild
take_ports P_IN P_SINK
run_sink sink "$P_SINK"
CFG="$E2E_DIR/sigil.toml"
sigil_config "$CFG" "$P_IN" "smtp:[127.0.0.1]:$P_SINK"
sed -i 's/^log_level = "info"/log_level = "info"\nlog_json = true\nlog_target = "journal"/; s/^name = "e2e"/name = "e2e"\nxforward_hosts = ["127.0.0.1\/32"]/' "$CFG"
"$SIGIL" check-config "$CFG" >"$E2E_DIR/check.out" 2>&1 || fail "config refused: $(cat "$E2E_DIR/check.out")"
spawn sigild "$SIGILD" -c "$CFG"
# journal_json: sigild's entries, one JSON object per line.
# (journalctl fails while the journal has no file yet, hence || true: the
# bounded waits below and the checks of journal.json judge the result.)
journal_json() { journalctl -D /run/log/journal -t sigild -o json 2>/dev/null || true; }
# journal_has STRING: some entry of sigild's contains STRING.
journal_has() { journal_json | grep -qF -- "$1"; }
until_true 10 journal_has "listening on 127.0.0.1:$P_IN " ||
  fail "no 'listening' entry of sigild in the journal: $(journal_json | tail -5)"
until_true 10 port_open "$P_IN" || fail "nothing on port $P_IN"

python3 - "$P_IN" <<'PY' || fail "the message was not relayed"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.ehlo("client.e2e.test")
assert s.docmd("XFORWARD", "IDENT=QJ1")[0] == 250
msg = b"From: <a@example.com>\r\nMessage-ID: <j1@e2e.test>\r\nSubject: j\r\n\r\nbody\r\n"
rc = s.sendmail("a@example.com", ["r%d@example.net" % i for i in range(1, 8)], msg)
s.quit()
PY
until_true 10 journal_has 'QJ1' || fail "no summary entry with QJ1 in the journal"

journal_json >"$E2E_DIR/journal.json"
python3 - "$E2E_DIR/journal.json" "$sigild_PID" >"$E2E_DIR/check.out" 2>&1 <<'PY' || fail "$(cat "$E2E_DIR/check.out")"
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
pid = sys.argv[2]
def fail(m):
    sys.exit("FAIL: " + m)
mine = [e for e in entries if e.get("_PID") == pid]
if not mine:
    fail("no journal entry from sigild's PID %s: %s" % (pid, entries[:3]))
for e in mine:
    if e.get("SYSLOG_IDENTIFIER") != "sigild" or e.get("SYSLOG_FACILITY") != "2":
        fail("entry without SYSLOG_IDENTIFIER=sigild SYSLOG_FACILITY=2: %s" % e)
starts = [e for e in mine if e.get("SIGIL_LOGGER") == "sigild" and "started" in e["MESSAGE"]]
if not starts or starts[0]["PRIORITY"] != "6":
    fail("no info 'started' entry from logger sigild")
summaries = [e for e in mine if e.get("SIGIL_LOGGER") == "msg"]
if len(summaries) != 1:
    fail("want one summary entry, got %d" % len(summaries))
e = summaries[0]
if e["PRIORITY"] != "6":
    fail("summary PRIORITY %s, want 6" % e["PRIORITY"])
obj = json.loads(e["MESSAGE"])  # the bare object, nothing before it
want = {"queue_id": "QJ1", "rcpts": 7, "rcpt_more": 2, "message_id": "<j1@e2e.test>",
        "action": "relayed", "rcpt": ["r%d@example.net" % i for i in range(1, 6)]}
for k, v in want.items():
    if obj.get(k) != v:
        fail("summary %s = %r, want %r: %s" % (k, obj.get(k), v, e["MESSAGE"]))
print("ok")
PY
[ ! -s "$E2E_DIR/sigild.log" ] || fail "sigild wrote to stderr with log_target = journal: $(cat "$E2E_DIR/sigild.log")"
pass "journal: entries with SYSLOG_IDENTIFIER=sigild SYSLOG_FACILITY=2, the summary (SIGIL_LOGGER=msg, PRIORITY=6) one JSON object with queue_id, rcpt/rcpt_more, message_id"

stop_pid "$sigild_PID" || fail "sigild did not stop on SIGTERM"
