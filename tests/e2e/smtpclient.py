#!/usr/bin/env python3
"""tests/e2e/smtpclient.py — a scripted SMTP/LMTP client for the e2e tests.

smtplib hides which step failed and folds multi-line replies; the tests need
the exact reply of each step, so this speaks the protocol on a raw socket.

Usage:
  smtpclient.py PORT STEP...

Steps (run in order on one connection; each prints one line per reply,
"<step> <code> <text>", to stdout):
  greet                  read the greeting
  ehlo NAME | lhlo NAME  (multi-line reply folded to its first line)
  mail ADDR | rcpt ADDR  MAIL FROM:<ADDR> / RCPT TO:<ADDR>
  data                   DATA (expects 354)
  body SUBJECT [NRCPT]   message with Subject SUBJECT, then the dot; reads one
                         reply (NRCPT replies for LMTP)
  dot SUBJECT            send the message and the dot, read nothing
  reply [N]              read N replies (default 1), printed as "reply ..."
  msg FROM TO SUBJECT    mail + rcpt + data + body; stops at the first refusal
  cmd TEXT               any command line, e.g. "cmd NOOP"
  expect CODE            the previous reply must have this code (or prefix,
                         e.g. 4 or 45), else exit 3
  touch PATH             create PATH (tells the shell script where we are)
  waitfile PATH SECS     wait until PATH exists (exit 4 at the deadline)
  sleep SECS
  read SECS              wait for an unsolicited reply or EOF; prints
                         "read <code> <text>" or "read EOF" or "read TIMEOUT"
  quit                   QUIT and close
  connect                close the connection (if any) and open a new one
Options (before PORT): --timeout SECS (per reply, default 60).
Exit: 0 when every step ran; 2 on a connection problem (printed as
"<step> ERROR <what>"); 3 on a failed expect; 4 on a waitfile timeout.
"""
import os
import socket
import sys
import time


class Conn:
    def __init__(self, port, timeout):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.timeout = timeout

    def send(self, data):
        self.sock.sendall(data)

    def readline(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """One (possibly multi-line) reply: (code, first line text)."""
        first = None
        while True:
            line = self.readline()
            if first is None:
                first = line
            if len(line) < 4 or line[3] != "-":
                code = line[:3]
                text = first[4:] if len(first) > 4 else ""
                return code, text


def body_bytes(subject, to):
    lines = [
        "From: <sender@example.com>",
        "To: <%s>" % to,
        "Subject: %s" % subject,
        "Message-ID: <%s@e2e.test>" % subject.replace(" ", "-"),
        "",
        "Body of %s." % subject,
        ".leading dot line (dot-stuffed on the wire)",
        "end",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def main(argv):
    timeout = 60.0
    while argv and argv[0].startswith("--"):
        if argv[0] == "--timeout":
            timeout = float(argv[1])
            argv = argv[2:]
        else:
            print("unknown option %s" % argv[0], file=sys.stderr)
            return 2
    port = int(argv[0])
    steps = argv[1:]
    out = sys.stdout
    last = [None]
    last_to = ["rcpt@example.net"]

    def emit(step, code, text):
        last[0] = code
        print("%s %s %s" % (step, code, text), file=out, flush=True)

    try:
        c = Conn(port, timeout)
    except OSError as e:
        emit("connect", "ERROR", str(e))
        return 2

    i = 0

    def arg():
        nonlocal i
        i += 1
        return steps[i]

    try:
        while i < len(steps):
            s = steps[i]
            if s == "greet":
                emit(s, *c.reply())
            elif s in ("ehlo", "lhlo"):
                c.send(("%s %s\r\n" % (s.upper(), arg())).encode())
                emit(s, *c.reply())
            elif s == "mail":
                c.send(("MAIL FROM:<%s>\r\n" % arg()).encode())
                emit(s, *c.reply())
            elif s == "rcpt":
                last_to[0] = arg()
                c.send(("RCPT TO:<%s>\r\n" % last_to[0]).encode())
                emit(s, *c.reply())
            elif s == "data":
                c.send(b"DATA\r\n")
                emit(s, *c.reply())
            elif s == "body":
                subject = arg()
                n = 1
                if i + 1 < len(steps) and steps[i + 1].isdigit():
                    n = int(arg())
                data = body_bytes(subject, last_to[0]).replace(b"\r\n.", b"\r\n..")
                c.send(data + b".\r\n")
                for _ in range(n):
                    emit(s, *c.reply())
            elif s == "dot":
                data = body_bytes(arg(), last_to[0]).replace(b"\r\n.", b"\r\n..")
                c.send(data + b".\r\n")
            elif s == "reply":
                n = 1
                if i + 1 < len(steps) and steps[i + 1].isdigit():
                    n = int(arg())
                for _ in range(n):
                    emit(s, *c.reply())
            elif s == "msg":
                frm, to, subject = arg(), arg(), arg()
                last_to[0] = to
                c.send(("MAIL FROM:<%s>\r\n" % frm).encode())
                code, text = c.reply()
                if code[0] != "2":
                    emit("msg-mail", code, text)
                else:
                    c.send(("RCPT TO:<%s>\r\n" % to).encode())
                    code, text = c.reply()
                    if code[0] != "2":
                        emit("msg-rcpt", code, text)
                        c.send(b"RSET\r\n")
                        c.reply()
                    else:
                        c.send(b"DATA\r\n")
                        code, text = c.reply()
                        if code != "354":
                            emit("msg-data", code, text)
                        else:
                            data = body_bytes(subject, to).replace(b"\r\n.", b"\r\n..")
                            c.send(data + b".\r\n")
                            emit("msg", *c.reply())
            elif s == "cmd":
                c.send((arg() + "\r\n").encode())
                emit(s, *c.reply())
            elif s == "expect":
                want = arg()
                if last[0] is None or not str(last[0]).startswith(want):
                    print("expect: wanted %s, got %s" % (want, last[0]), file=sys.stderr)
                    return 3
            elif s == "touch":
                open(arg(), "w").close()
            elif s == "waitfile":
                path, secs = arg(), float(arg())
                deadline = time.monotonic() + secs
                while not os.path.exists(path):
                    if time.monotonic() > deadline:
                        print("waitfile %s: timeout" % path, file=sys.stderr)
                        return 4
                    time.sleep(0.05)
            elif s == "sleep":
                time.sleep(float(arg()))
            elif s == "read":
                secs = float(arg())
                c.sock.settimeout(secs)
                try:
                    emit(s, *c.reply())
                except socket.timeout:
                    emit(s, "TIMEOUT", "")
                except (EOFError, ConnectionResetError):
                    emit(s, "EOF", "")
                c.sock.settimeout(timeout)
            elif s == "connect":
                try:
                    c.sock.close()
                except OSError:
                    pass
                c = Conn(port, timeout)
            elif s == "quit":
                c.send(b"QUIT\r\n")
                try:
                    emit(s, *c.reply())
                except (EOFError, OSError):
                    emit(s, "EOF", "")
                c.sock.close()
            else:
                print("unknown step %s" % s, file=sys.stderr)
                return 2
            i += 1
    except socket.timeout:
        emit(steps[i], "ERROR", "timeout")
        return 2
    except (EOFError, OSError) as e:
        emit(steps[i], "ERROR", str(e) or type(e).__name__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
