#!/usr/bin/env python3
"""tests/e2e/fake_backend.py — an SMTP or LMTP back-end that refuses chosen
recipients, for faults a real smtp-sink cannot make on demand: one recipient
of several refused at RCPT, an LMTP back-end refusing one recipient after the
data (RFC 2033 §4.2), or the null sender refused (so a DSN cannot go).

Usage:
  fake_backend.py [--lmtp] [--rcpt ADDR=REPLY]... [--data ADDR=REPLY]...
                  [--null-sender REPLY] [--no-smtputf8] PORT DIR

  --rcpt ADDR=REPLY   answer RCPT TO:<ADDR> with REPLY ("550 5.1.1 text")
  --data ADDR=REPLY   LMTP: answer ADDR's reply after the data with REPLY
  --null-sender REPLY answer MAIL FROM:<> with REPLY
  --no-smtputf8       do not offer SMTPUTF8
Each accepted message is written to DIR/msg.N: "X-Mail-From: <addr> params",
one "X-Rcpt-To: <addr>" per accepted recipient, then the data as received
(dot-unstuffed).  Offers PIPELINING, 8BITMIME, SMTPUTF8 (unless told not
to), ENHANCEDSTATUSCODES and DSN.  Serves connections in threads until killed; one line per command
and reply goes to stderr.
"""
import itertools
import os
import socketserver
import sys
import threading

OPTS = {"lmtp": False, "rcpt": {}, "data": {}, "null": None, "dir": ".", "utf8": True}
COUNTER = itertools.count(1)
LOCK = threading.Lock()


def addr_of(arg):
    """The address between < and > of a MAIL/RCPT argument, lower-cased."""
    lt, gt = arg.find("<"), arg.find(">")
    return arg[lt + 1:gt].lower() if 0 <= lt < gt else ""


class Session(socketserver.StreamRequestHandler):
    def say(self, line):
        sys.stderr.write("S: %s\n" % line)
        sys.stderr.flush()
        self.wfile.write(line.encode("utf-8") + b"\r\n")
        self.wfile.flush()

    def handle(self):
        self.say("220 fake.e2e.test ESMTP fake back-end")
        self.reset()
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            sys.stderr.write("C: %s\n" % line)
            verb = line.split(" ", 1)[0].upper()
            arg = line[len(verb):].strip()
            if verb in ("EHLO", "LHLO"):
                self.say("250-fake.e2e.test")
                for ext in ("PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"):
                    if ext != "SMTPUTF8" or OPTS["utf8"]:
                        self.say("250-" + ext)
                self.say("250 DSN")
            elif verb == "MAIL":
                self.mail(arg)
            elif verb == "RCPT":
                self.rcpt(arg)
            elif verb == "DATA":
                self.data()
            elif verb == "RSET":
                self.reset()
                self.say("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.say("221 2.0.0 Bye")
                return
            else:
                self.say("250 2.0.0 Ok")

    def reset(self):
        self.sender, self.rcpts = None, []

    def mail(self, arg):
        if OPTS["null"] and addr_of(arg) == "":
            self.say(OPTS["null"])
            return
        self.sender = arg.split(":", 1)[1].strip()
        self.say("250 2.1.0 Ok")

    def rcpt(self, arg):
        a = addr_of(arg)
        if a in OPTS["rcpt"]:
            self.say(OPTS["rcpt"][a])
            return
        self.rcpts.append(a)
        self.say("250 2.1.5 Ok")

    def data(self):
        if self.sender is None or not self.rcpts:
            self.say("503 5.5.1 Error: need RCPT command")
            return
        self.say("354 End data with <CR><LF>.<CR><LF>")
        body = []
        while True:
            raw = self.rfile.readline()
            if not raw or raw == b".\r\n":
                break
            body.append(raw[1:] if raw.startswith(b".") else raw)
        accepted = [r for r in self.rcpts if not (OPTS["lmtp"] and r in OPTS["data"])]
        if accepted:
            with LOCK:
                path = os.path.join(OPTS["dir"], "msg.%d" % next(COUNTER))
            with open(path, "wb") as f:
                f.write(("X-Mail-From: %s\r\n" % self.sender).encode("utf-8"))
                for r in accepted:
                    f.write(("X-Rcpt-To: <%s>\r\n" % r).encode("utf-8"))
                f.write(b"".join(body))
        if OPTS["lmtp"]:
            for r in self.rcpts:
                self.say(OPTS["data"].get(r, "250 2.0.0 <%s> Ok: delivered" % r))
        else:
            self.say("250 2.0.0 Ok: queued as FAKE%d" % len(accepted))
        self.reset()


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main(argv):
    args = list(argv)
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--lmtp":
            OPTS["lmtp"] = True
        elif opt in ("--rcpt", "--data"):
            addr, reply = args.pop(0).split("=", 1)
            OPTS[opt[2:]][addr.lower()] = reply
        elif opt == "--no-smtputf8":
            OPTS["utf8"] = False
        elif opt == "--null-sender":
            OPTS["null"] = args.pop(0)
        else:
            sys.exit("unknown option " + opt)
    port, OPTS["dir"] = int(args[0]), args[1]
    os.makedirs(OPTS["dir"], exist_ok=True)
    Server(("127.0.0.1", port), Session).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
