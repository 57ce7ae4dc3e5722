#!/usr/bin/python3
"""sign_dkimpy.py — signs messages with Debian's dkimpy (python3-dkim), for
interop.sh's "foreign signers" part (their signatures are then verified by
Sigil's dkim_verify_tool).

  sign_dkimpy.py JOBS
  JOBS lines: IN<TAB>OUT<TAB>KEYFILE<TAB>DOMAIN<TAB>SELECTOR<TAB>ALG<TAB>CANON

ALG is rsa-sha256 or ed25519-sha256, CANON header/body ("relaxed/simple").
The message is signed as SMTP would carry it: line ends made CRLF, a final
CRLF added when missing; OUT is the signature followed by that message.
dkimpy's default header list is used (the RFC 6376 §5.4.1 fields present).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stand_in_sign import load_key  # noqa: E402  (also blocks dnspython)
import dkim  # noqa: E402


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    keys = {}
    for line in open(argv[0], encoding="utf-8"):
        inp, out, keyfile, domain, selector, alg, canon = line.rstrip("\n").split("\t")
        if keyfile not in keys:
            keys[keyfile] = load_key(keyfile)
        key_alg, key = keys[keyfile]
        if key_alg.decode() != alg:
            raise SystemExit(f"sign_dkimpy.py: {keyfile} is {key_alg.decode()}, job wants {alg}")
        raw = open(inp, "rb").read()
        msg = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if not msg.endswith(b"\r\n"):
            msg += b"\r\n"
        hc, _, bc = canon.partition("/")
        sig = dkim.DKIM(msg, signature_algorithm=alg.encode()).sign(
            selector.encode(), domain.encode(), key,
            canonicalize=(hc.encode(), (bc or "simple").encode()))
        with open(out, "wb") as f:
            f.write(sig + msg)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
