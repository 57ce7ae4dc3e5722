#!/usr/bin/env python3
# tests/e2e/systemd_notify.py — systemd's notify protocol as sigild speaks
# it, read without systemd: this script binds a Unix datagram socket, starts
# sigild with NOTIFY_SOCKET pointing at it (WATCHDOG_USEC and WATCHDOG_PID =
# sigild's own PID, through `sh -c 'exec'`), and reads what sigild sends.
# Run by e2e.systemd_notify (systemd_notify.sh gives the configurations).
#
#   systemd_notify.py SIGILD CONFIG GOOD BAD PORT WORKDIR
#     CONFIG: the file sigild runs on; GOOD replaces it before the first
#     SIGHUP (accepted), BAD before the second (refused).
#
# Asserts: READY=1 comes once, and when it comes the listener accepts; the
# watchdog pings every WATCHDOG_USEC/2 (about) and stop while sigild is
# SIGSTOPped, then resume; SIGHUP with GOOD: RELOADING=1, then READY=1 with
# STATUS=configuration reloaded...; SIGHUP with BAD: RELOADING=1, then
# READY=1 with a STATUS naming the refusal and its reason; SIGTERM:
# STOPPING=1, and sigild exits 0.  sigild is stopped by its PID whatever
# happens (SIGKILL in the finally).
import os, shutil, signal, socket, subprocess, sys, time

sigild, config, good, bad, port, work = sys.argv[1:7]
port = int(port)
WATCHDOG_USEC = 400000          # pings expected every 0.2 s
sock_path = os.path.join(work, "notify.sock")
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sock_path)


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def receive(until, want=None):
    """Datagrams until `until` (monotonic) or one with `want` among its
    lines; returns [(time, {key: value})]."""
    out = []
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return out
        sock.settimeout(left)
        try:
            data = sock.recv(4096)
        except socket.timeout:
            return out
        fields = dict(l.split("=", 1) for l in data.decode().split("\n") if "=" in l)
        out.append((time.monotonic(), fields))
        if want and want in data.decode().split("\n"):
            return out


def states(msgs):
    """The messages other than the watchdog's pings."""
    return [f for _, f in msgs if "WATCHDOG" not in f]


def accepts():
    with socket.socket() as c:
        c.settimeout(1)
        return c.connect_ex(("127.0.0.1", port)) == 0


env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC=str(WATCHDOG_USEC))
log = open(os.path.join(work, "sigild.log"), "ab")
# exec keeps the PID: WATCHDOG_PID=$$ is sigild's own.
proc = subprocess.Popen(["sh", "-c", 'WATCHDOG_PID=$$ exec "$0" -c "$1"', sigild, config],
                        env=env, stdout=log, stderr=log)
try:
    msgs = receive(time.monotonic() + 15, "READY=1")
    if not any(f.get("READY") == "1" for f in states(msgs)):
        fail("no READY=1 within 15 s: %r" % msgs)
    if not accepts():
        fail("READY=1 came, but nothing accepts on port %d" % port)
    print("ok: READY=1, and then the listener accepts")

    # The watchdog: about one ping per 0.2 s over 2 s.
    pings = [t for t, f in receive(time.monotonic() + 2.0) if f.get("WATCHDOG") == "1"]
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    if not 6 <= len(pings) <= 14 or max(gaps) > 0.5:
        fail("WATCHDOG=1 %d times in 2 s (want about 10), gaps %r" % (len(pings), gaps))
    print("ok: WATCHDOG=1 %d times in 2 s, largest gap %.2f s" % (len(pings), max(gaps)))
    os.kill(proc.pid, signal.SIGSTOP)
    receive(time.monotonic() + 0.1)  # a ping already on its way
    stopped = [f for _, f in receive(time.monotonic() + 1.5) if f.get("WATCHDOG")]
    os.kill(proc.pid, signal.SIGCONT)
    if stopped:
        fail("%d WATCHDOG=1 while sigild was stopped" % len(stopped))
    again = [f for _, f in receive(time.monotonic() + 1.0) if f.get("WATCHDOG")]
    if not again:
        fail("no WATCHDOG=1 after SIGCONT")
    print("ok: no WATCHDOG=1 in 1.5 s of SIGSTOP; pings again after SIGCONT")

    def reload_with(path):
        shutil.copyfile(path, config)
        os.kill(proc.pid, signal.SIGHUP)
        got = states(receive(time.monotonic() + 15, "READY=1"))
        if len(got) < 2 or got[0].get("RELOADING") != "1" or got[-1].get("READY") != "1":
            fail("SIGHUP: want RELOADING=1 then READY=1, got %r" % got)
        if "MONOTONIC_USEC" not in got[0]:
            fail("RELOADING=1 without MONOTONIC_USEC: %r" % got[0])
        return got[-1].get("STATUS", "")

    status = reload_with(good)
    if not status.startswith("configuration reloaded from " + config):
        fail("good SIGHUP: STATUS=%r" % status)
    print("ok: good SIGHUP: RELOADING=1, READY=1, STATUS=%s" % status)
    status = reload_with(bad)
    if "reload refused" not in status or "no_such_key" not in status:
        fail("bad SIGHUP: STATUS=%r (want the refusal and the unknown key)" % status)
    if not accepts():
        fail("after the refused reload nothing accepts on port %d" % port)
    print("ok: bad SIGHUP: RELOADING=1, READY=1, STATUS=%s" % status)

    os.kill(proc.pid, signal.SIGTERM)
    got = states(receive(time.monotonic() + 10, "STOPPING=1"))
    if not any(f.get("STOPPING") == "1" for f in got):
        fail("SIGTERM: no STOPPING=1: %r" % got)
    rc = proc.wait(timeout=15)
    if rc != 0:
        fail("sigild exited %d after SIGTERM" % rc)
    print("ok: SIGTERM: STOPPING=1, exit 0")
finally:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
