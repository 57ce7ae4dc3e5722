#!/usr/bin/env python3
"""Reserve free loopback TCP ports for a test, so that concurrent tests and
outgoing connections never end up on the same port.

  ports.py take N OWNER_PID   print N distinct reserved ports on one line
  ports.py release OWNER_PID  drop every reservation OWNER_PID holds

Two things made bind(port 0) unsafe for tests that hand a port to another
process: the port comes from the kernel's ephemeral range, so by the time the
peer binds it an outgoing connection (sigild -> back-end, say) may hold it;
and nothing stops a concurrent test from getting the same port.  So ports are
drawn below the ephemeral range (net.ipv4.ip_local_port_range) and reserved by
creating <dir>/<port> with O_EXCL, holding the owner's PID.  A reservation of
a dead PID is taken over.  tests/filter/test_peer.cpp does the same in C++
(same directory, same file format).
"""
import os
import random
import socket
import sys

DIR = os.path.join(os.environ.get("TMPDIR", "/tmp"), "sigil-test-ports")


def port_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
    except OSError:
        lo, hi = 32768, 60999
    if lo - 1 >= 12000:
        return 10000, lo - 1
    return hi + 1, 65535


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reserve(port, owner):
    path = os.path.join(DIR, str(port))
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                with open(path) as f:
                    pid = int(f.read().strip() or "0")
            except (OSError, ValueError):
                pid = 0
            if pid > 0 and alive(pid):
                return False
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            continue
        os.write(fd, b"%d\n" % owner)
        os.close(fd)
        return True
    return False


def bindable(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def take(n, owner):
    os.makedirs(DIR, mode=0o1777, exist_ok=True)
    lo, hi = port_range()
    got = []
    for _ in range(20000):
        if len(got) == n:
            break
        port = random.randint(lo, hi)
        if port in got or not reserve(port, owner):
            continue
        if bindable(port):
            got.append(port)
        else:
            os.unlink(os.path.join(DIR, str(port)))
    if len(got) != n:
        sys.exit("ports.py: could not reserve %d ports in %d-%d" % (n, lo, hi))
    print(" ".join(map(str, got)))


def release(owner):
    try:
        names = os.listdir(DIR)
    except FileNotFoundError:
        return
    for name in names:
        path = os.path.join(DIR, name)
        try:
            with open(path) as f:
                if int(f.read().strip() or "0") == owner:
                    os.unlink(path)
        except (OSError, ValueError):
            pass


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "take":
        take(int(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "release":
        release(int(sys.argv[2]))
    else:
        sys.exit(__doc__)
