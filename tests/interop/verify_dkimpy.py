#!/usr/bin/python3
"""verify_dkimpy.py — verifies every DKIM signature of each file with Debian's
dkimpy (python3-dkim) and prints one line per signature, for interop.sh.

  verify_dkimpy.py [--dns ADDR] FILE...
  -> FILE<TAB>INDEX<TAB>d<TAB>s<TAB>a<TAB>RESULT<TAB>DETAIL

RESULT is pass, fail, permerror, temperror or none (no signature).  Keys are
fetched with REAL DNS: a dnspython resolver asking ADDR (default 127.0.0.1,
the dnsmasq that interop.sh runs inside its private network namespace) on
port 53, handed to dkimpy as its dnsfunc.  Run with Debian's /usr/bin/python3
(python3-dkim, python3-dnspython, python3-nacl for Ed25519).
"""
import logging
import sys

import dkim
import dns.exception
import dns.resolver


class Capture(logging.Handler):
    """Keeps dkimpy's log messages: they carry the reason a signature failed."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def make_dnsfunc(addr):
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [addr]
    res.port = 53
    res.timeout = 2
    res.lifetime = 5

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii")
        try:
            ans = res.resolve(name, "TXT", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        except dns.exception.Timeout as e:
            raise dkim.DnsTimeoutError(str(e))
        for rr in ans:
            return b"".join(rr.strings)
        return None

    return dnsfunc


def tag(fields, name):
    v = fields.get(name, b"-") if fields else b"-"
    return v.decode("utf-8", "replace")


def one_line(text):
    return " ".join(str(text).split())


def verify_file(path, dnsfunc):
    with open(path, "rb") as f:
        msg = f.read()
    count = 0
    try:
        count = len([1 for n, _ in dkim.DKIM(msg).headers if n.lower() == b"dkim-signature"])
    except dkim.DKIMException as e:
        print(f"{path}\t-\t-\t-\t-\tpermerror\tcannot parse message: {one_line(e)}")
        return
    if count == 0:
        print(f"{path}\t-\t-\t-\t-\tnone\tno DKIM-Signature")
        return
    for idx in range(count):
        cap = Capture()
        logger = logging.getLogger(f"dkimpy.{path}.{idx}")
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        logger.addHandler(cap)
        d = dkim.DKIM(msg, logger=logger, minkey=1024, timeout=5)
        try:
            ok = d.verify(idx=idx, dnsfunc=dnsfunc)
            result = "pass" if ok else "fail"
            if not ok and getattr(d, "pk", None) is None:
                # verify_sig() logs key lookup/format errors and returns False.
                result = "permerror"
            errors = [line for line in cap.lines if not line.startswith(("sig:", "bh:", "sig ", "b'"))]
            detail = "verified" if ok else "; ".join(errors[-2:]) or "signature did not verify"
        except dkim.DnsTimeoutError as e:
            result, detail = "temperror", f"DnsTimeoutError: {e}"
        except dkim.ValidationError as e:
            # Body hash mismatch and x=/t= problems land here.
            result, detail = "fail", f"ValidationError: {e}"
        except dkim.DKIMException as e:
            result, detail = "permerror", f"{type(e).__name__}: {e}"
        fields = getattr(d, "signature_fields", None)
        print("\t".join([path, str(idx), tag(fields, b"d"), tag(fields, b"s"),
                         tag(fields, b"a"), result, one_line(detail)]))
        logger.removeHandler(cap)


def main(argv):
    addr = "127.0.0.1"
    if len(argv) >= 2 and argv[0] == "--dns":
        addr, argv = argv[1], argv[2:]
    if not argv:
        print("usage: verify_dkimpy.py [--dns ADDR] FILE...", file=sys.stderr)
        return 2
    dnsfunc = make_dnsfunc(addr)
    for path in argv:
        verify_file(path, dnsfunc)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
