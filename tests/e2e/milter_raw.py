#!/usr/bin/env python3
"""tests/e2e/milter_raw.py — what miltertest cannot send: malformed milter
input, and checks on the exact bytes of replies, against a running sigild.

    milter_raw.py LOG SIGN_PORT VERIFY_PORT

Each case opens its own connection.  A malformed-input case passes when
sigild closes that connection within 5 s and logs the expected line (read
from LOG, only lines written after the case started); the other cases check
the replies byte for byte.  Prints "ok: CASE" per case; the first failure
exits 1 with "FAIL: CASE: got X, want Y".

The configuration is e2e.milter_miltertest's (the sign listener's
milter_hosts = ["127.0.0.1/32"]): smtp.max_header_size = 16384
(so the packet limit is libmilter's 64 KiB chunk + 16: 65552 bytes),
smtp.max_message_size = 20000, smtp.max_recipients = 3.
"""
import os
import socket
import struct
import sys
import time

LOG, SIGN_PORT, VERIFY_PORT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
LIMIT = 65552


def pkt(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data


OPTNEG = pkt(b"O", struct.pack(">III", 6, 0x1FF, 0x1FFFFF))
CONNECT = pkt(b"C", b"client.example\0" + b"4" + struct.pack(">H", 4321) + b"192.0.2.1\0")


class Fail(Exception):
    pass


class Conn:
    def __init__(self, port, source="127.0.0.1"):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5,
                                          source_address=(source, 0))
        self.buf = b""

    def send(self, b):
        self.s.sendall(b)

    def _fill(self):
        try:
            d = self.s.recv(65536)
        except ConnectionResetError:
            d = b""
        except socket.timeout:
            raise Fail("no reply within 5 s")
        if not d:
            raise Fail("sigild closed the connection")
        self.buf += d

    def packet(self):
        """The next reply packet as (cmd, data)."""
        while len(self.buf) < 4:
            self._fill()
        n = struct.unpack(">I", self.buf[:4])[0]
        while len(self.buf) < 4 + n:
            self._fill()
        p, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
        return p[:1], p[1:]

    def expect(self, cmd, what):
        c, d = self.packet()
        if c != cmd:
            raise Fail("%s: got reply %r %r, want %r" % (what, c, d[:80], cmd))
        return d

    def closed_by_peer(self, secs=5.0):
        """True once sigild closed the connection (any bytes before the end
        are discarded); False if it is still open after secs."""
        end = time.monotonic() + secs
        while time.monotonic() < end:
            self.s.settimeout(max(0.05, end - time.monotonic()))
            try:
                d = self.s.recv(65536)
            except ConnectionResetError:
                return True
            except socket.timeout:
                return False
            if not d:
                return True
        return False

    def close(self):
        self.s.close()


def negotiated(port=SIGN_PORT):
    c = Conn(port)
    c.send(OPTNEG)
    c.expect(b"O", "OPTNEG")
    return c


def in_message(port=SIGN_PORT, rcpts=1):
    """Negotiated, CONNECT, MAIL and RCPT done (MAIL and RCPT answered)."""
    c = negotiated(port)
    c.send(CONNECT)  # SMFIP_NR_CONN: no reply
    c.send(pkt(b"D", b"Mi\0RAW\0") + pkt(b"M", b"<alice@example.com>\0"))
    c.expect(b"c", "MAIL")
    for i in range(rcpts):
        c.send(pkt(b"R", b"<r%d@example.org>\0" % i))
        c.expect(b"c", "RCPT")
    return c


def log_size():
    try:
        return os.path.getsize(LOG)
    except OSError:
        return 0


def log_since(offset, phrase, secs=5.0):
    end = time.monotonic() + secs
    while True:
        with open(LOG, "rb") as f:
            f.seek(offset)
            new = f.read().decode("utf-8", "replace")
        for line in new.splitlines():
            if phrase in line:
                return line
        if time.monotonic() > end:
            raise Fail("no log line with %r; new lines:\n%s" % (phrase, new[-2000:]))
        time.sleep(0.05)


# ------------------------------------------------------------ malformed input
# Each: (name, function(conn-or-None) -> None, expected log phrase).

def bad(name, phrase, steps):
    def run():
        off = log_size()
        c = steps()
        if not c.closed_by_peer():
            raise Fail("the connection is still open 5 s after the bad input, want it closed")
        c.close()
        line = log_since(off, phrase)
        print("ok: %s: %s" % (name, line.split(" milter: ", 1)[-1]))
    return name, run


def zero_length():
    c = negotiated()
    c.send(b"\0\0\0\0")
    return c


def above_limit():
    c = negotiated()
    c.send(struct.pack(">I", LIMIT + 1) + b"B")  # the data never comes
    return c


def huge_before_optneg():
    c = Conn(SIGN_PORT)
    c.send(b"\x7f\xff\xff\xffB")
    return c


def command_before_optneg():
    c = Conn(SIGN_PORT)
    c.send(CONNECT)
    return c


def short_optneg():
    c = Conn(SIGN_PORT)
    c.send(pkt(b"O", struct.pack(">I", 6)))
    return c


def version_1():
    c = Conn(SIGN_PORT)
    c.send(pkt(b"O", struct.pack(">III", 1, 0x1FF, 0)))
    return c


def truncated_connect():
    c = negotiated()
    c.send(pkt(b"C", b"client.example\0" + b"4" + b"\x00"))  # half a port
    return c


def connect_bad_family():
    c = negotiated()
    c.send(pkt(b"C", b"client.example\0" + b"Z" + struct.pack(">H", 25) + b"x\0"))
    return c


def garbage_http():
    c = Conn(SIGN_PORT)
    c.send(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
    return c


def garbage_command():
    c = negotiated()
    c.send(pkt(b"\x07", b"junk"))
    return c


def header_without_name():
    c = in_message()
    c.send(pkt(b"L", b"\0value\0"))
    return c


def dropped_mid_message():
    c = in_message()
    c.send(pkt(b"L", b"Subject\0 dropped\0") + pkt(b"N") + pkt(b"B", b"part of the body\r\n"))
    # Half a body packet, then the MTA goes away.
    c.send(struct.pack(">I", 101) + b"B" + b"x" * 40)
    time.sleep(0.2)
    c.s.shutdown(socket.SHUT_WR)
    return c


def from_unlisted_mta():
    """The sign listener's milter_hosts is 127.0.0.1/32: 127.0.0.2 is no MTA
    of ours, however well it speaks the protocol."""
    c = Conn(SIGN_PORT, source="127.0.0.2")
    c.send(OPTNEG)
    return c


BAD = [
    bad("an MTA not in milter_hosts", "milter connection from 127.0.0.2 refused: not in its milter_hosts",
        from_unlisted_mta),
    bad("zero-length packet", "milter packet of length 0; closing", zero_length),
    bad("length above the limit", "milter packet of %d bytes (limit %d); closing" % (LIMIT + 1, LIMIT),
        above_limit),
    bad("huge length before OPTNEG", "milter packet of 2147483647 bytes", huge_before_optneg),
    bad("command before OPTNEG", "command 'C' before option negotiation; closing", command_before_optneg),
    bad("short OPTNEG", "short OPTNEG; closing", short_optneg),
    bad("protocol version 1", "milter protocol version 1 is not supported; closing", version_1),
    bad("truncated CONNECT", "CONNECT without a port; closing", truncated_connect),
    bad("CONNECT with a bad family", "CONNECT with unknown family 'Z'; closing", connect_bad_family),
    bad("garbage (an HTTP request)", "milter packet of %d bytes" % struct.unpack(">I", b"GET ")[0],
        garbage_http),
    bad("garbage command byte", "unknown milter command '?' (4 bytes); closing", garbage_command),
    bad("HEADER without a name", "HEADER without a name; closing", header_without_name),
    bad("connection dropped mid-message", "MTA closed the connection inside a message",
        dropped_mid_message),
]


# ------------------------------------------------------------ exact replies

def at_limit():
    """A BODY packet of exactly the limit is accepted (the message is then
    too big for max_message_size = 20000: 552 at EOM, connection kept)."""
    c = in_message()
    c.send(pkt(b"L", b"Subject\0 big\0") + pkt(b"N"))
    c.send(pkt(b"B", b"y" * (LIMIT - 1)))
    c.send(pkt(b"E"))
    d = c.expect(b"y", "EOM after a packet of exactly %d bytes" % LIMIT)
    if not (d.startswith(b"552 5.3.4 ") and d.endswith(b" Message size exceeds fixed limit\0")):
        raise Fail("at-limit EOM: got %r, want 552 5.3.4 <id> Message size exceeds fixed limit" % d)
    # Still usable: ABORT then QUIT closes cleanly.
    c.send(pkt(b"A") + pkt(b"Q"))
    if not c.closed_by_peer():
        raise Fail("at-limit: QUIT did not close the connection")
    c.close()
    print("ok: a packet of exactly %d bytes is accepted; the message gets 552 5.3.4" % LIMIT)


def rcpt_limit():
    c = in_message(rcpts=3)
    c.send(pkt(b"R", b"<r4@example.org>\0"))
    d = c.expect(b"y", "4th RCPT")
    if d != b"452 4.5.3 Too many recipients\0":
        raise Fail("4th RCPT: got %r, want '452 4.5.3 Too many recipients'" % d)
    c.send(pkt(b"A") + pkt(b"Q"))
    c.closed_by_peer()
    c.close()
    print("ok: the 4th RCPT gets 452 4.5.3 Too many recipients")


def edit_order():
    """On the verify listener: a forged Authentication-Results claiming our
    authserv-id is deleted and ours inserted.  The deletion must come
    before the insertion: Postfix resolves a SMFIR_CHGHEADER index over the
    header as edited so far, fields a milter inserted included, so a delete
    of 'Authentication-Results #1' sent after our own field was inserted at
    the top would remove ours (or the wrong one)."""
    c = in_message(VERIFY_PORT)
    for name, value in [(b"From", b" <news@trusted.example>"), (b"To", b" <bob@example.org>"),
                        (b"Subject", b" forged"),
                        (b"Authentication-Results", b" mx.e2e.test; dkim=pass header.d=trusted.example"),
                        (b"Date", b" Mon, 1 Jan 2024 00:00:00 +0000")]:
        c.send(pkt(b"L", name + b"\0" + value + b"\0"))
    c.send(pkt(b"N") + pkt(b"B", b"unsigned\r\n") + pkt(b"E"))
    seq = []
    while True:
        cmd, d = c.packet()
        seq.append((cmd, d))
        if cmd in (b"c", b"a", b"r", b"t", b"d", b"y"):
            break
    c.send(pkt(b"Q"))
    c.close()
    show = " ".join("%s(%s)" % (x.decode(), y[4:].split(b"\0")[0].decode() if x in (b"i", b"m") else "")
                    for x, y in seq)
    if seq[-1][0] != b"c":
        raise Fail("edit order: got final reply %r, want c: %s" % (seq[-1][0], show))
    dels = [i for i, (x, y) in enumerate(seq)
            if x == b"m" and y == struct.pack(">I", 1) + b"Authentication-Results\0\0"]
    ins = [i for i, (x, y) in enumerate(seq)
           if x == b"i" and y.startswith(struct.pack(">I", 0) + b"Authentication-Results\0 mx.e2e.test;")]
    if len(dels) != 1 or len(ins) != 1:
        raise Fail("edit order: got %s, want one delete of Authentication-Results #1 and one insert at 0"
                   % show)
    if dels[0] > ins[0]:
        raise Fail("edit order: got %s, want the delete before the insert" % show)
    print("ok: the forged Authentication-Results is deleted before ours is inserted: " + show)


def main():
    try:
        for name, run in BAD:
            try:
                run()
            except Fail as e:
                raise Fail("%s: %s" % (name, e))
        for f in (at_limit, rcpt_limit, edit_order):
            try:
                f()
            except Fail as e:
                raise Fail("%s: %s" % (f.__name__, e))
    except (Fail, OSError) as e:
        print("FAIL: %s" % e)
        sys.exit(1)


main()
