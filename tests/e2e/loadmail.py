#!/usr/bin/env python3
"""tests/e2e/loadmail.py — numbered messages under load, and the count of
what arrived, for the fault tests (tests/e2e/faults.sh).

  loadmail.py send PORT PREFIX COUNT SESSIONS [options]
  loadmail.py check DIR[,DIR...] PREFIX COUNT [SIZE]
  loadmail.py count DIR PREFIX
  loadmail.py results DIR PREFIX REGEX

send: COUNT messages, Message-ID <PREFIX-k@load.e2e.test> (k = 1..COUNT),
over SESSIONS concurrent SMTP sessions to 127.0.0.1:PORT.  A message
answered 4xx (at MAIL, RCPT, DATA or after the dot), or whose connection
broke or timed out before its final reply, is sent again after
--retry-delay seconds, on a fresh connection when the old one broke: what an
MTA does with its queue.  A 5xx is final ("refused").  Stops at --deadline
seconds with whatever is still queued counted as "undelivered".
  --size BYTES         body size (default 600)
  --retry-delay SECS   default 0.3
  --deadline SECS      default 120
  --timeout SECS       per reply (default 60)
  --events FILE        one line per attempt: "START_MS END_MS ID ATTEMPT
                       CODE TEXT" (CODE 250/4xx/5xx, or ERR with the error);
                       times are epoch milliseconds, START is MAIL FROM
  --pace SECS          pause between a session's messages (default 0)
  --once 1             never send again: a 4xx leaves the message undelivered
  --dkim KEY:D:S       sign each message with dkimpy (Ed25519 PEM key KEY,
                       d=D, s=S; needs python3-dkim and python3-nacl)
Prints one line: "sent N delivered D refused R undelivered U attempts A
tempfails T errors E" and exits 0 (the caller judges the figures).

check: reads every smtp-sink dump file in DIR; a copy counts as delivered
when it carries the body's last line "END <id>" right after its own
Message-ID's body (a dump without it is a transaction cut short, never
answered 250: "partial").  Prints "delivered D lost L duplicated X partial P
truncated T" and one line per lost, duplicated or truncated id.  A truncated
copy is one that has the trailer but not the body the sender wrote (SIZE as
given to send, default 600).
"""
import collections
import os
import re
import socket
import sys
import threading
import time

DOMAIN = "load.e2e.test"


def msg_id(prefix, k):
    return "%s-%d" % (prefix, k)


def body_lines(mid, size):
    """The body of message mid: numbered lines up to about size bytes."""
    lines, n, i = [], 0, 0
    while n < size:
        line = "line %d of %s %s" % (i, mid, "x" * 40)
        lines.append(line)
        n += len(line) + 2
        i += 1
    return lines


def message_bytes(mid, size):
    head = [
        "From: <load@example.com>",
        "To: <rcpt@example.net>",
        "Subject: load %s" % mid,
        "Message-ID: <%s@%s>" % (mid, DOMAIN),
        "Date: Mon, 07 Dec 2026 07:00:00 +0000",
        "",
    ]
    text = "\r\n".join(head + body_lines(mid, size) + ["END " + mid]) + "\r\n"
    return text.encode()


class Broken(Exception):
    pass


class Conn:
    def __init__(self, port, timeout):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def reply(self):
        first = None
        while True:
            while b"\r\n" not in self.buf:
                try:
                    chunk = self.sock.recv(65536)
                except OSError as e:
                    raise Broken(type(e).__name__ + ":" + str(e))
                if not chunk:
                    raise Broken("EOF")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            line = line.decode("utf-8", "replace")
            if first is None:
                first = line
            if len(line) < 4 or line[3] != "-":
                return line[:3], first[4:]

    def cmd(self, text):
        try:
            self.sock.sendall(text.encode() + b"\r\n")
        except OSError as e:
            raise Broken(type(e).__name__ + ":" + str(e))
        return self.reply()


def dkim_signer(spec):
    """KEYFILE:DOMAIN:SELECTOR, an Ed25519 PEM key: a function that signs a
    message with dkimpy (relaxed/relaxed), as tests/e2e/dkim_verify.sh."""
    import base64
    import subprocess
    import dkim
    keyfile, d, sel = spec.split(":")
    der = subprocess.run(["openssl", "pkey", "-in", keyfile, "-outform", "DER"],
                         capture_output=True, check=True).stdout
    key = base64.b64encode(der[-32:])  # dkimpy wants the raw seed, base64

    def sign(msg):
        return dkim.sign(msg, sel.encode(), d.encode(), key, canonicalize=(b"relaxed", b"relaxed"),
                         include_headers=[b"From", b"To", b"Subject", b"Date", b"Message-ID"],
                         signature_algorithm=b"ed25519-sha256") + msg
    return sign


def now_ms():
    return int(time.time() * 1000)


def send(argv):
    port, prefix, count, sessions = int(argv[0]), argv[1], int(argv[2]), int(argv[3])
    opts = {"--size": "600", "--retry-delay": "0.3", "--deadline": "120", "--timeout": "60",
            "--events": "", "--pace": "0", "--once": "0", "--dkim": ""}
    i = 4
    while i < len(argv):
        if argv[i] not in opts:
            sys.exit("unknown option " + argv[i])
        opts[argv[i]] = argv[i + 1]
        i += 2
    size = int(opts["--size"])
    delay = float(opts["--retry-delay"])
    deadline = time.monotonic() + float(opts["--deadline"])
    timeout = float(opts["--timeout"])
    pace = float(opts["--pace"])
    once = opts["--once"] == "1"
    signer = dkim_signer(opts["--dkim"]) if opts["--dkim"] else None
    events = open(opts["--events"], "w") if opts["--events"] else None

    lock = threading.Lock()
    queue = collections.deque((k, 1, 0.0) for k in range(1, count + 1))  # (k, attempt, not_before)
    inflight = [0]
    stats = collections.Counter()

    def log(start, mid, attempt, code, text):
        if events:
            with lock:
                events.write("%d %d %s %d %s %s\n" % (start, now_ms(), mid, attempt, code, text))

    def take():
        """The next message ready to send, None when all are done, or
        "wait" when only retries not yet due (or others in flight) remain."""
        with lock:
            t = time.monotonic()
            for _ in range(len(queue)):
                item = queue.popleft()
                if item[2] <= t:
                    inflight[0] += 1
                    return item
                queue.append(item)
            return "wait" if queue or inflight[0] else None

    def done(item, again):
        with lock:
            inflight[0] -= 1
            if again and once:
                stats["undelivered"] += 1
            elif again:
                queue.append((item[0], item[1] + 1, time.monotonic() + delay))

    def worker():
        conn = None
        while time.monotonic() < deadline:
            item = take()
            if item is None:
                break
            if item == "wait":
                time.sleep(0.02)
                continue
            k, attempt, _ = item
            mid = msg_id(prefix, k)
            start = now_ms()
            again = True
            try:
                if conn is None:
                    conn = Conn(port, timeout)
                    code, text = conn.reply()
                    if code != "220":
                        raise Broken("greeting " + code + " " + text)
                    code, text = conn.cmd("EHLO load.e2e.test")
                    if code != "250":
                        raise Broken("EHLO " + code + " " + text)
                start = now_ms()
                code, text = conn.cmd("MAIL FROM:<load@example.com>")
                if code == "250":
                    code, text = conn.cmd("RCPT TO:<rcpt@example.net>")
                if code == "250":
                    code, text = conn.cmd("DATA")
                    if code == "354":
                        data = message_bytes(mid, size)
                        if signer:
                            data = signer(data)
                        try:
                            conn.sock.sendall(data + b".\r\n")
                        except OSError as e:
                            raise Broken(type(e).__name__ + ":" + str(e))
                        code, text = conn.reply()
                if code == "250":
                    again = False
                    stats["delivered"] += 1
                elif code.startswith("5"):
                    again = False
                    stats["refused"] += 1
                    conn.cmd("RSET")
                else:
                    stats["tempfails"] += 1
                    if code == "421":
                        conn.close()
                        conn = None
                    elif code != "354":
                        conn.cmd("RSET")
                log(start, mid, attempt, code, text)
            except (Broken, OSError) as e:
                stats["errors"] += 1
                log(start, mid, attempt, "ERR", str(e).replace("\n", " "))
                if conn:
                    conn.close()
                conn = None
            stats["attempts"] += 1
            done(item, again)
            if pace:
                time.sleep(pace)
        if conn:
            try:
                conn.cmd("QUIT")
            except (Broken, OSError):
                pass
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if events:
        events.close()
    print("sent %d delivered %d refused %d undelivered %d attempts %d tempfails %d errors %d" % (
        count, stats["delivered"], stats["refused"], len(queue) + inflight[0] + stats["undelivered"],
        stats["attempts"],
        stats["tempfails"], stats["errors"]))


def check(argv):
    dirs, prefix, count = argv[0].split(","), argv[1], int(argv[2])
    size = int(argv[3]) if len(argv) > 3 else 600
    mid_re = re.compile(r"^Message-ID: <(%s-\d+)@%s>" % (re.escape(prefix), re.escape(DOMAIN)),
                        re.I | re.M)
    copies = collections.Counter()
    partial = truncated = 0
    bad = []
    for path in sorted(os.path.join(d, name) for d in dirs for name in os.listdir(d)):
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace").replace("\r\n", "\n")
        m = mid_re.search(text)
        if not m:
            continue  # another test's message, or a dump cut before its header
        mid = m.group(1)
        body_at = text.find("\n\n", m.end())
        trailer = "\nEND " + mid + "\n"
        if trailer not in text:
            partial += 1
            continue
        body = text[body_at + 2:text.index(trailer) + 1] if body_at >= 0 else ""
        # The body lines the sender wrote: the same lines, in order.
        if body.split("\n")[:-1] != body_lines(mid, size):
            truncated += 1
            bad.append("truncated " + mid + " " + name)
            continue
        copies[mid] += 1
    lost = [msg_id(prefix, k) for k in range(1, count + 1) if copies[msg_id(prefix, k)] == 0]
    dups = [m for m, n in copies.items() if n > 1]
    print("delivered %d lost %d duplicated %d partial %d truncated %d" % (
        len(copies), len(lost), sum(copies[m] - 1 for m in dups), partial, truncated))
    for m in lost[:20]:
        print("lost " + m)
    for m in dups:
        print("duplicated %s %d" % (m, copies[m]))
    for b in bad:
        print(b)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "send":
        send(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "results":
        # results DIR PREFIX REGEX: "ID MATCH" per dump file holding a
        # PREFIX-k message (MATCH: the regex's first match, or "-").
        pat = re.compile(r"^Message-ID: <(%s-\d+)@" % re.escape(sys.argv[3]), re.I | re.M)
        want = re.compile(sys.argv[4])
        for name in sorted(os.listdir(sys.argv[2])):
            with open(os.path.join(sys.argv[2], name), "rb") as f:
                text = f.read().decode("utf-8", "replace")
            m = pat.search(text)
            if m:
                w = want.search(text)
                print(m.group(1), w.group(0) if w else "-")
    elif len(sys.argv) > 1 and sys.argv[1] == "count":
        # count DIR PREFIX: dump files holding a PREFIX-k message so far.
        pat = re.compile(r"^Message-ID: <%s-\d+@" % re.escape(sys.argv[3]), re.I | re.M)
        n = 0
        for name in os.listdir(sys.argv[2]):
            try:
                with open(os.path.join(sys.argv[2], name), "rb") as f:
                    n += bool(pat.search(f.read(4096).decode("utf-8", "replace")))
            except OSError:
                pass
        print(n)
    elif len(sys.argv) > 1 and sys.argv[1] == "check":
        check(sys.argv[2:])
    else:
        sys.exit(__doc__)
