#!/usr/bin/python3
# tests/e2e/postfix_matrix.py — the client side of e2e.postfix_matrix_*
# (run with /usr/bin/python3: dkimpy is the system package).
#
#   send PORT FROM TO FILE
#       One message; prints "STEP CODE TEXT" of the reply that decided it
#       (STEP: CONNECT, EHLO, MAIL, RCPT, DATA; CODE -1 when the connection
#       failed, TEXT then says how).  Always exits 0: the caller judges.
#   batch SPEC OUT THREADS PACE [GATE_AT GATE_FILE]
#       SPEC lines "NAME PORT FROM TO FILE"; THREADS connections at once, each
#       sending its share (line i goes to thread i % THREADS) one after the
#       other, PACE seconds apart; with GATE_AT, each thread waits before its
#       message number GATE_AT (0-based) until GATE_FILE exists (at most
#       120 s), so that part of the batch surely comes after an event.  Every outcome is appended to OUT as soon as
#       it is known: "NAME STEP CODE TEXT".  After any outcome but a 250 the
#       connection is dropped and the next message opens a new one (a session
#       whose filter died stays unusable in some Postfix modes).  A message
#       whose dot got no reply (the connection died after it) is recorded with
#       CODE -1: its fate is unknown to the client, which would retry it.
#   sign --key KEYFILE:DOMAIN:SELECTOR [--key ...] IN OUT [IN OUT ...]
#       dkimpy signatures (relaxed/relaxed; the last --key on top); a key file
#       whose name ends in -ed.pem is Ed25519.
#   verify DNSFILE FILE...
#       Every DKIM-Signature of each FILE checked by dkimpy with the keys of
#       DNSFILE ("name TXT" lines): "FILE sig I d= s= a= pass|FAIL [why]" per
#       signature, then "FILE sigs=N pass=P".
#   delayproxy PORT TARGET_PORT DELAY LOG
#       A TCP relay on 127.0.0.1:PORT to 127.0.0.1:TARGET_PORT that waits
#       DELAY seconds after each accept before it connects on (a slow
#       scanner: messages stay in sigild's pipeline that long).  Appends
#       "open N TIME" and "close N TIME" per connection to LOG (TIME: Unix
#       time, seconds).
#   audit RESULTS MAILDIR MARKS [CUT]
#       RESULTS as written by batch (and by the caller for single sends);
#       MARKS lines "NAME-PREFIX REGEX": a delivered copy of a message whose
#       name starts with NAME-PREFIX must have a header line matching REGEX
#       (Sigil's mark: the copy went through Sigil).  Prints one line per
#       problem and a summary "accepted=A refused=R unknown=U delivered=D";
#       exits 1 on any problem: an accepted (2xx) message not delivered
#       exactly once, a refused (4xx/5xx) one delivered, a copy without its
#       mark.  Unknown (-1) ones may be delivered at most once; they are
#       counted as "unknown_delivered=".
#       CUT: a file of names (one per line) whose hand-over to sigild was
#       cut after the end of DATA (SIGKILL): sigild may have relayed it
#       before it died, and Postfix retries, so an accepted one may be
#       delivered twice (RFC 1047's window: a duplicate, never a loss).
#       Each is listed as "cut NAME copies=N".
import base64, re, smtplib, subprocess, sys, threading, time


def send_one(conn_box, port, frm, to, data):
    """Returns (step, code, text, keep_connection)."""
    s = conn_box[0]
    step = "CONNECT"
    try:
        if s is None:
            s = smtplib.SMTP("127.0.0.1", port, timeout=120)
            step = "EHLO"
            code, text = s.ehlo("client.e2e.test")
            if code != 250:
                return step, code, text, False
            conn_box[0] = s
        step = "MAIL"
        code, text = s.mail(frm)
        if code != 250:
            return step, code, text, False
        step = "RCPT"
        for rcpt in to.split(","):
            code, text = s.rcpt(rcpt)
            if code not in (250, 251):
                return step, code, text, False
        step = "DATA"
        code, text = s.data(data)
        return step, code, text, code == 250
    except smtplib.SMTPResponseException as e:
        return step, e.smtp_code, e.smtp_error, False
    except (smtplib.SMTPException, OSError) as e:
        return step, -1, repr(e).encode(), False


def drop(conn_box):
    s = conn_box[0]
    conn_box[0] = None
    if s is None:
        return
    try:
        s.quit()
    except (smtplib.SMTPException, OSError):
        try:
            s.close()
        except OSError:
            pass


def fmt(step, code, text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "%s %d %s" % (step, code, " ".join(text.split()))


def cmd_send(port, frm, to, path):
    box = [None]
    step, code, text, _ = send_one(box, int(port), frm, to, open(path, "rb").read())
    drop(box)
    print(fmt(step, code, text))


def cmd_batch(spec, out, threads, pace, gate_at=-1, gate_file=None):
    import os
    jobs = [l.split() for l in open(spec) if l.strip()]
    threads, pace, gate_at = int(threads), float(pace), int(gate_at)
    lock = threading.Lock()
    outf = open(out, "a")

    def worker(k):
        box = [None]
        mine = 0
        for i, (name, port, frm, to, path) in enumerate(jobs):
            if i % threads != k:
                continue
            if mine == gate_at:
                deadline = time.time() + 120
                while not os.path.exists(gate_file) and time.time() < deadline:
                    time.sleep(0.05)
            mine += 1
            step, code, text, keep = send_one(box, int(port), frm, to, open(path, "rb").read())
            with lock:
                outf.write("%s %s\n" % (name, fmt(step, code, text)))
                outf.flush()
            if not keep:
                drop(box)
            time.sleep(pace)
        drop(box)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def cmd_sign(args):
    import dkim
    keys = []
    while args and args[0] == "--key":
        keys.append(args[1].split(":"))
        args = args[2:]
    for src, dst in zip(args[0::2], args[1::2]):
        msg = open(src, "rb").read()
        for keyfile, d, s in keys:
            kw = {}
            if keyfile.endswith("-ed.pem"):
                der = subprocess.run(["openssl", "pkey", "-in", keyfile, "-outform", "DER"],
                                     capture_output=True, check=True).stdout
                key = base64.b64encode(der[-32:])  # dkimpy: the raw 32-byte seed
                kw["signature_algorithm"] = b"ed25519-sha256"
            else:
                key = subprocess.run(["openssl", "rsa", "-in", keyfile, "-traditional"],
                                     capture_output=True, check=True).stdout
            sig = dkim.sign(msg, s.encode(), d.encode(), key, canonicalize=(b"relaxed", b"relaxed"),
                            include_headers=[b"From", b"To", b"Subject", b"Date", b"Message-ID"], **kw)
            msg = sig + msg
        open(dst, "wb").write(msg)


def crlf(b):
    return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def cmd_verify(dnsfile, files):
    import dkim
    dns = dict(l.rstrip(b"\n").split(b" ", 1) for l in open(dnsfile, "rb"))
    dnsfunc = lambda name, timeout=5: dns.get(name.lower().rstrip(b"."))
    for path in files:
        msg = crlf(open(path, "rb").read())
        n = len(re.findall(rb"(?im)^dkim-signature:", msg.split(b"\r\n\r\n", 1)[0]))
        ok = 0
        for i in range(n):
            d = dkim.DKIM(msg)
            try:
                good, why = d.verify(idx=i, dnsfunc=dnsfunc), ""
            except Exception as e:
                good, why = False, repr(e)
            f = d.signature_fields or {}
            g = lambda k: f.get(k, b"?").decode()
            print("%s sig %d d=%s s=%s a=%s %s %s" % (path, i, g(b"d"), g(b"s"), g(b"a"),
                                                    "pass" if good else "FAIL", why))
            ok += bool(good)
        print("%s sigs=%d pass=%d" % (path, n, ok))


def cmd_delayproxy(port, target, delay, log):
    import socket
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(port)))
    srv.listen(64)
    logf = open(log, "a", buffering=1)
    lock = threading.Lock()

    def note(what):
        with lock:
            logf.write("%s %.3f\n" % (what, time.time()))

    def pipe(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def handle(c, n):
        note("open %d" % n)
        try:
            time.sleep(float(delay))
            u = socket.create_connection(("127.0.0.1", int(target)), timeout=30)
            t = threading.Thread(target=pipe, args=(c, u), daemon=True)
            t.start()
            pipe(u, c)
            for s in (c, u):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            t.join(1)
        except OSError:
            c.close()
        note("close %d" % n)

    n = 0
    while True:
        c, _ = srv.accept()
        n += 1
        threading.Thread(target=handle, args=(c, n), daemon=True).start()


def header_section(path):
    text = open(path, "rb").read().decode("utf-8", "replace").replace("\r\n", "\n")
    head = text.split("\n\n", 1)[0]
    return re.sub(r"\n[ \t]+", " ", head).split("\n")


def cmd_audit(results, maildir, marks, cut_file=None):
    import os
    cut = set(l.strip() for l in open(cut_file) if l.strip()) if cut_file else set()
    want = {}
    for line in open(results):
        parts = line.split(None, 3)
        if len(parts) >= 3:
            want[parts[0]] = int(parts[2])
    mark = [l.split(None, 1) for l in open(marks) if l.strip()]
    mark = [(p, re.compile(r.strip(), re.I)) for p, r in mark]
    copies = {}
    for fn in os.listdir(maildir):
        path = os.path.join(maildir, fn)
        hdr = header_section(path)
        ids = [h for h in hdr if h.lower().startswith("message-id:")]
        m = re.search(r"<([^@>]+)@e2e\.test>", ids[0]) if ids else None
        if m:
            copies.setdefault(m.group(1), []).append((path, hdr))
    bad = 0
    acc = ref = unk = unk_del = 0
    for name, code in sorted(want.items()):
        got = copies.get(name, [])
        if name in cut:
            print("cut %s copies=%d" % (name, len(got)))
        if 200 <= code < 300:
            acc += 1
            if not (len(got) == 1 or (name in cut and len(got) == 2)):
                print("PROBLEM %s: accepted (%d) but delivered %d times" % (name, code, len(got)))
                bad += 1
        elif code < 0:
            unk += 1
            unk_del += len(got)
            if len(got) > 1:
                print("PROBLEM %s: unknown fate but delivered %d times" % (name, len(got)))
                bad += 1
        else:
            ref += 1
            if got:
                print("PROBLEM %s: refused (%d) but delivered %d times" % (name, code, len(got)))
                bad += 1
        for path, hdr in got:
            for prefix, rx in mark:
                if name.startswith(prefix) and not any(rx.search(h) for h in hdr):
                    print("PROBLEM %s: %s lacks Sigil's mark /%s/" % (name, path, rx.pattern))
                    bad += 1
    print("accepted=%d refused=%d unknown=%d unknown_delivered=%d delivered=%d"
          % (acc, ref, unk, unk_del, sum(len(copies.get(n, [])) for n in want)))
    sys.exit(1 if bad else 0)


def main():
    a = sys.argv[1:]
    if a[0] == "send":
        cmd_send(*a[1:5])
    elif a[0] == "batch":
        cmd_batch(*a[1:])
    elif a[0] == "sign":
        cmd_sign(a[1:])
    elif a[0] == "verify":
        cmd_verify(a[1], a[2:])
    elif a[0] == "delayproxy":
        cmd_delayproxy(*a[1:5])
    elif a[0] == "audit":
        cmd_audit(*a[1:5])
    else:
        sys.exit("postfix_matrix.py: unknown command " + a[0])


main()
