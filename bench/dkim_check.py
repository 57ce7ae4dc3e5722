#!/usr/bin/python3
"""bench/dkim_check.py — verify the DKIM signatures of captured messages
offline, with dkimpy (Debian python3-dkim; python3-nacl for Ed25519) and the
public keys given on the command line instead of DNS.

    dkim_check.py --key SELECTOR:DOMAIN:PUBKEY.pem [--key ...] FILE...

FILE is one message, or a file of messages as smtp-sink -D writes them (each
one starts at an "X-Client-Addr:" line; smtp-sink's own lines before the
message headers are dropped).  Prints one line per message and a summary
line "checked N: pass P, fail F, unsigned U"; exit status 0 only when every
message has at least one signature and all of them verify.
"""
import argparse
import base64
import re
import subprocess
import sys

try:
    import dkim
except ImportError:
    print("dkim_check: python3-dkim (dkimpy) is not installed", file=sys.stderr)
    sys.exit(2)

# smtp-sink -D prefixes each dumped message with these lines and a Received:
# field of its own (see smtp-sink(1), "-D dump-file").
SINK_LINES = re.compile(rb"^(X-Client-Addr|X-Client-Proto|X-Helo-Args|X-Mail-Args|X-Rcpt-Args):")


def txt_record(pem_path):
    """The DNS TXT value (v=DKIM1; k=...; p=...) for a PEM public key."""
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", pem_path, "-outform", "DER"],
                         check=True, capture_output=True).stdout
    text = subprocess.run(["openssl", "pkey", "-pubin", "-in", pem_path, "-noout", "-text"],
                          check=True, capture_output=True).stdout
    if b"ED25519" in text.upper():
        # RFC 8463: p= is the raw 32-byte key, the last 32 bytes of the SPKI DER.
        return b"v=DKIM1; k=ed25519; p=" + base64.b64encode(der[-32:])
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def split_messages(data):
    if not data.startswith(b"X-Client-Addr:"):
        return [data]
    msgs = []
    for chunk in re.split(rb"(?m)^(?=X-Client-Addr:)", data):
        if not chunk.strip():
            continue
        lines = chunk.splitlines(keepends=True)
        while lines and SINK_LINES.match(lines[0]):
            lines.pop(0)
        # smtp-sink also prepends its own Received: field (3 folded lines).
        if lines and lines[0].startswith(b"Received: ") and len(lines) > 1 \
                and b"by smtp-sink (smtp-sink)" in lines[1]:
            lines.pop(0)
            while lines and lines[0][:1] in (b" ", b"\t"):
                lines.pop(0)
        msgs.append(b"".join(lines))
    return msgs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--key", action="append", default=[], help="SELECTOR:DOMAIN:PUBKEY.pem")
    ap.add_argument("--max", type=int, default=50, help="check at most this many messages per file")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    records = {}
    for k in a.key:
        sel, dom, path = k.split(":", 2)
        records[f"{sel}._domainkey.{dom}.".lower().encode()] = txt_record(path)

    def dnsfunc(name, timeout=5):
        if isinstance(name, str):
            name = name.encode()
        name = name.lower()
        if not name.endswith(b"."):
            name += b"."
        return records.get(name)

    n = npass = nfail = nunsigned = 0
    for f in a.files:
        with open(f, "rb") as fh:
            data = fh.read()
        for i, m in enumerate(split_messages(data)[: a.max]):
            m = m.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            n += 1
            d = dkim.DKIM(m)
            sigs = [h for h in d.headers if h[0].lower() == b"dkim-signature"]
            if not sigs:
                nunsigned += 1
                print(f"{f}#{i}: unsigned")
                continue
            ok = True
            tags = []
            for idx in range(len(sigs)):
                v = dkim.DKIM(m)
                good = v.verify(idx=idx, dnsfunc=dnsfunc)
                t = dkim.util.parse_tag_value(sigs[idx][1])
                tags.append(f"a={t.get(b'a', b'?').decode()} d={t.get(b'd', b'?').decode()} "
                            f"s={t.get(b's', b'?').decode()} c={t.get(b'c', b'simple/simple').decode()}: "
                            + ("pass" if good else "FAIL"))
                ok = ok and good
            if ok:
                npass += 1
            else:
                nfail += 1
            print(f"{f}#{i}: " + "; ".join(tags))
    print(f"checked {n}: pass {npass}, fail {nfail}, unsigned {nunsigned}")
    return 0 if n > 0 and npass == n else 1


if __name__ == "__main__":
    sys.exit(main())
