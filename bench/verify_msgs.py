#!/usr/bin/python3
"""bench/verify_msgs.py — the signed test messages and DNS records of
bench/verify, signed with dkimpy (Debian python3-dkim, python3-nacl for
Ed25519), an implementation independent of Sigil's signer.

    verify_msgs.py --message msg5k.eml --rsa-key RSA.pem --ed25519-key ED.pem
                   --out DIR [--domain example.com] [--rsa-selector s1]
                   [--ed25519-selector s2] [--cold N] [--cold-suffix cold.example]
                   [--big MB]

Writes into DIR (c=relaxed/simple, dkimpy's default header set, no x=):
  rsa.eml        the message signed once, RSA-2048, d=DOMAIN s=RSA-SELECTOR
  dual.eml       signed RSA-2048 then Ed25519 (s=ED25519-SELECTOR, on top)
  cold/NNNN.eml  N copies, each From: user@dNNNN.COLD-SUFFIX and signed by that
                 d= (s=RSA-SELECTOR, the same RSA key: one key published under
                 N names; the point is N distinct DNS names)
  cold.list      their paths, one per line (sigil-loadgen --message-list)
  big.eml        with --big MB: the message with a body of MB megabytes,
                 signed 8 times with the RSA key, each signature a distinct
                 body hash (c= body simple or relaxed, with and without l=,
                 rsa-sha256 and rsa-sha1): the worst a verifier hashes
  dns.tsv        NAME<TAB>TXT for every key name (bench/dns_delay.py --table)
  dnsmasq.args   --txt-record=NAME,chunk,chunk lines for DOMAIN's two keys
                 (dnsmasq takes 255-octet strings comma-separated on its
                 command line)
Then verifies rsa.eml, dual.eml (both signatures) and a few cold messages
with dkimpy against that table, and exits 1 unless all pass.
"""
import argparse
import base64
import os
import re
import subprocess
import sys

try:
    import dkim
except ImportError:
    sys.exit("verify_msgs: python3-dkim (dkimpy) is not installed")


def der(pem, public):
    args = ["openssl", "pkey", "-in", pem, "-outform", "DER"]
    if public:
        args.insert(2, "-pubout")
    return subprocess.run(args, check=True, capture_output=True).stdout


def big_message(msg, mb, sel, dom, key):
    """msg's header with a body of mb megabytes, signed 8 times (see above)."""
    head = msg.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    line = b"A line of the large body, for the hashing cost of verification.  0123456789\r\n"
    body = line * (mb * 1024 * 1024 // len(line) + 1)
    m = head + body
    for body_canon in (b"simple", b"relaxed"):
        for length in (False, True):
            for alg in (b"rsa-sha256", b"rsa-sha1"):
                m = dkim.DKIM(m).sign(sel, dom, key, signature_algorithm=alg, length=length,
                                      canonicalize=(b"relaxed", body_canon)) + m
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--message", required=True)
    ap.add_argument("--rsa-key", required=True)
    ap.add_argument("--ed25519-key", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--domain", default="example.com")
    ap.add_argument("--rsa-selector", default="s1")
    ap.add_argument("--ed25519-selector", default="s2")
    ap.add_argument("--cold", type=int, default=1000)
    ap.add_argument("--cold-suffix", default="cold.example")
    ap.add_argument("--big", type=int, default=0)
    a = ap.parse_args()
    if not 0 <= a.cold <= 100000:
        sys.exit("verify_msgs: --cold 0..100000")

    rsa_pem = open(a.rsa_key, "rb").read()
    # dkimpy takes the Ed25519 private key as the base64 of its 32-byte seed
    # (the last 32 bytes of the PKCS#8 DER), the public one raw (RFC 8463).
    ed_seed = base64.b64encode(der(a.ed25519_key, False)[-32:])
    rsa_txt = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der(a.rsa_key, True))
    ed_txt = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(der(a.ed25519_key, True)[-32:])

    raw = open(a.message, "rb").read()
    msg = re.sub(rb"\r?\n", b"\r\n", raw)
    if not msg.endswith(b"\r\n"):
        msg += b"\r\n"
    dom = a.domain.encode()
    s_rsa = a.rsa_selector.encode()
    s_ed = a.ed25519_selector.encode()
    table = {}
    table[s_rsa + b"._domainkey." + dom] = rsa_txt
    table[s_ed + b"._domainkey." + dom] = ed_txt

    def sign(m, sel, d, key, alg):
        return dkim.DKIM(m).sign(sel, d, key, signature_algorithm=alg,
                                 canonicalize=(b"relaxed", b"simple")) + m

    os.makedirs(os.path.join(a.out, "cold"), exist_ok=True)
    rsa_msg = sign(msg, s_rsa, dom, rsa_pem, b"rsa-sha256")
    dual_msg = sign(rsa_msg, s_ed, dom, ed_seed, b"ed25519-sha256")
    open(os.path.join(a.out, "rsa.eml"), "wb").write(rsa_msg)
    open(os.path.join(a.out, "dual.eml"), "wb").write(dual_msg)

    big_msg = None
    if a.big > 0:
        big_msg = big_message(msg, a.big, s_rsa, dom, rsa_pem)
        open(os.path.join(a.out, "big.eml"), "wb").write(big_msg)

    paths = []
    cold_msgs = []
    width = max(4, len(str(a.cold)))
    for i in range(1, a.cold + 1):
        d = b"d%0*d.%s" % (width, i, a.cold_suffix.encode())
        m = re.sub(rb"(?mi)^(From:[^\r\n]*<)[^@>]*@[^>]*>", rb"\1user@" + d + rb">", msg, count=1)
        m = re.sub(rb"(?mi)^(Return-Path: *<)[^@>]*@[^>]*>", rb"\1user@" + d + rb">", m, count=1)
        m = re.sub(rb"(?mi)^(Message-ID: *<[^@>]*)@[^>]*>", rb"\1@" + d + rb">", m, count=1)
        signed = sign(m, s_rsa, d, rsa_pem, b"rsa-sha256")
        p = os.path.join(a.out, "cold", "%0*d.eml" % (width, i))
        open(p, "wb").write(signed)
        paths.append(os.path.abspath(p))
        cold_msgs.append(signed)
        table[s_rsa + b"._domainkey." + d] = rsa_txt
    with open(os.path.join(a.out, "cold.list"), "w") as f:
        f.write("".join(p + "\n" for p in paths))
    with open(os.path.join(a.out, "dns.tsv"), "wb") as f:
        f.write(b"# bench/verify_msgs.py: NAME<TAB>TXT\n")
        for name, txt in table.items():
            f.write(name + b"\t" + txt + b"\n")
    with open(os.path.join(a.out, "dnsmasq.args"), "w") as f:
        for name in (s_rsa + b"._domainkey." + dom, s_ed + b"._domainkey." + dom):
            txt = table[name]
            chunks = [txt[i:i + 255].decode() for i in range(0, len(txt), 255)]
            f.write("--txt-record=%s,%s\n" % (name.decode(), ",".join(chunks)))

    # Self-check against the table, so a failure later is the verifier's.
    def dnsfunc(name, timeout=5):
        return table.get(name.rstrip(b".").lower())

    checks = [("rsa.eml", rsa_msg, 1), ("dual.eml", dual_msg, 2)]
    if big_msg is not None:
        checks.append(("big.eml", big_msg, 1))  # the last one made; each takes seconds
    for j in sorted({0, len(cold_msgs) // 2, len(cold_msgs) - 1}):
        if 0 <= j < len(cold_msgs):
            checks.append(("cold/%0*d.eml" % (width, j + 1), cold_msgs[j], 1))
    bad = 0
    for name, m, nsig in checks:
        v = dkim.DKIM(m)
        for idx in range(nsig):
            if not v.verify(idx=idx, dnsfunc=dnsfunc):
                print("verify_msgs: %s signature %d does not verify" % (name, idx), file=sys.stderr)
                bad += 1
    print("verify_msgs: rsa.eml, dual.eml, %d cold messages (%d distinct d=), %d DNS names; "
          "self-check %s" % (len(cold_msgs), len(cold_msgs), len(table), "FAILED" if bad else "ok"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
