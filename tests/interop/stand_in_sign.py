#!/usr/bin/python3
"""stand_in_sign.py — a stand-in for dkim_sign_tool built on dkimpy's signer,
with the same command line, so the interop harness can check itself against a
known-good signer:

  SIGN_TOOL="/usr/bin/python3 tests/interop/stand_in_sign.py" \
    OPENDKIM_VERIFY=build/interop_opendkim_verify bash tests/interop/interop.sh all

  stand_in_sign.py [--time UNIX] --sig 'key=FILE,d=DOMAIN,s=SELECTOR[,c=..][,h=..][,o=..][,i=..][,x=..]' ... < msg > signed

It is NOT what the interop tests are about (they run Sigil's dkim_sign_tool);
it only proves that the harness passes good signatures (about a minute: each
call starts Python).  Differences: x= is not supported by dkimpy 1.1's DKIM
signer and is ignored (with a warning); o= (oversign) is done by listing a
header once more than it occurs; a last line without CRLF gets one, as SMTP
would send it.
"""
import base64
import subprocess
import sys
import unittest.mock

# dkimpy imports dnspython (and with it httpx, ~1.5 s) only to verify; block
# it, the signer needs no DNS.
sys.modules["dns"] = None
import dkim  # noqa: E402


def usage(msg):
    print(f"stand_in_sign.py: {msg}", file=sys.stderr)
    sys.exit(2)


def load_key(path):
    der = subprocess.run(["openssl", "pkey", "-in", path, "-outform", "DER"],
                         check=True, capture_output=True).stdout
    if len(der) == 48 and b"\x2b\x65\x70" in der[:16]:  # OID 1.3.101.112
        return b"ed25519-sha256", base64.b64encode(der[-32:])
    pem = subprocess.run(["openssl", "pkey", "-in", path, "-traditional"],
                         check=True, capture_output=True).stdout
    return b"rsa-sha256", pem


def main(argv):
    when = None
    specs = []
    i = 0
    while i < len(argv):
        if argv[i] == "--time" and i + 1 < len(argv):
            when = int(argv[i + 1])
            i += 2
        elif argv[i] == "--sig" and i + 1 < len(argv):
            spec = {}
            for part in argv[i + 1].split(","):
                k, sep, v = part.partition("=")
                if not sep:
                    usage(f"bad --sig part {part!r}")
                spec[k] = v
            for k in ("key", "d", "s"):
                if k not in spec:
                    usage(f"--sig needs {k}=")
            specs.append(spec)
            i += 2
        else:
            usage(f"unknown argument {argv[i]!r}")
    if not specs:
        usage("no --sig")
    raw = sys.stdin.buffer.read()
    msg = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not msg.endswith(b"\r\n"):
        msg += b"\r\n"  # as SMTP would send it
    headers = dkim.DKIM(msg).headers
    sigs = []
    for spec in specs:
        alg, key = load_key(spec["key"])
        canon = spec.get("c", "relaxed/simple").encode().split(b"/")
        if len(canon) == 1:
            canon.append(b"simple")
        names = spec.get("h", "From:To:Subject:Date:Message-ID").split(":")
        include = [n.lower().encode() for n in names]
        for n in spec.get("o", "").split(":") if spec.get("o") else []:
            present = sum(1 for h, _ in headers if h.lower() == n.lower().encode())
            include = [x for x in include if x != n.lower().encode()]
            include += [n.lower().encode()] * (present + 1)
        if "x" in spec:
            print("stand_in_sign.py: x= ignored (dkimpy cannot sign it)", file=sys.stderr)
        d = dkim.DKIM(msg, signature_algorithm=alg)
        identity = spec["i"].encode() if "i" in spec else None
        with unittest.mock.patch("time.time", return_value=when if when else __import__("time").time()):
            sigs.append(d.sign(spec["s"].encode(), spec["d"].encode(), key,
                               identity=identity, canonicalize=tuple(canon),
                               include_headers=include))
    sys.stdout.buffer.write(b"".join(sigs) + msg)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (dkim.DKIMException, subprocess.CalledProcessError, OSError) as e:
        print(f"stand_in_sign.py: {e}", file=sys.stderr)
        sys.exit(1)
