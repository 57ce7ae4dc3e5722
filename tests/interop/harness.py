#!/usr/bin/python3
"""harness.py — helpers for interop.sh (no DKIM logic of its own).

  harness.py txt-arg NAME TEXT         dnsmasq --txt-record=NAME,..,..: TEXT
                                       split into 255-byte character-strings
  harness.py dns-txt NAME [SERVER]     one TXT query over UDP to SERVER:53 (default:
                                       the first nameserver in /etc/resolv.conf);
                                       prints the strings joined; exit 1 if none
                                       (stdlib only: dnspython takes ~1.5 s to import)
  harness.py contract JOBS             checks dkim_sign_tool's output contract
                                       for each line IN<TAB>OUT<TAB>NSIGS<TAB>CASE:
                                       CRLF only, NSIGS DKIM-Signature fields
                                       prepended, then the input unchanged
                                       (line ends made CRLF, a final CRLF added
                                       if the input had none); exit 1 if any
                                       output breaks it
  harness.py tamper DIR FILE...        copies each FILE into DIR, changing one
                                       body byte (the first letter or digit of
                                       the body; an empty body gets one line)
  harness.py check VERIFIER MANIFEST RESULTS
                                       compares a verifier's per-signature
                                       results with the expectations; prints
                                       a summary and every mismatch verbatim;
                                       exit 1 on any mismatch

MANIFEST lines: FILE<TAB>CASE<TAB>d<TAB>s<TAB>a<TAB>EXPECT (pass|fail)
RESULTS lines:  FILE<TAB>INDEX<TAB>d<TAB>s<TAB>a<TAB>RESULT<TAB>DETAIL
"""
import os
import random
import re
import socket
import struct
import sys
from collections import defaultdict

# Documented skips: (verifier, algorithm) -> why.  Only a result of
# "unsupported" from that verifier for that algorithm is skipped; a pass
# still counts as a pass and anything else is a failure.
KNOWN_UNSUPPORTED = {
    ("mail-dkim", "ed25519-sha256"):
        "Debian 12's Mail::DKIM 1.20230212 cannot verify Ed25519 "
        "(no Crypt::PK::Ed25519; DESIGN.md section 7)",
}


def txt_arg(name, text):
    data = text.encode("ascii")
    if b'"' in data or b"," in data or b"\\" in data:
        raise SystemExit("txt-arg: a quote, comma or backslash would need escaping")
    chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
    # On the command line dnsmasq takes the strings as they are (its quote
    # handling belongs to the conf-file reader): commas separate them.
    print(f"--txt-record={name}," + ",".join(c.decode() for c in chunks))


def dns_txt(name, server=None):
    if server is None:
        with open("/etc/resolv.conf") as f:
            server = next(line.split()[1] for line in f if line.startswith("nameserver"))
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    q += struct.pack(">HH", 16, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.sendto(q, (server, 53))
        resp, _ = s.recvfrom(4096)
    rid, flags, qd, an = struct.unpack(">HHHH", resp[:8])
    if rid != qid or flags & 0xF != 0 or an == 0:
        return None
    pos = len(q)  # the question is echoed back unchanged
    out = []
    for _ in range(an):
        while resp[pos] != 0 and resp[pos] & 0xC0 != 0xC0:
            pos += resp[pos] + 1
        pos += 2 if resp[pos] & 0xC0 == 0xC0 else 1
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", resp[pos:pos + 10])
        pos += 10
        if rtype == 16:
            end = pos + rdlen
            while pos < end:
                n = resp[pos]
                out.append(resp[pos + 1:pos + 1 + n])
                pos += n + 1
            return out
        pos += rdlen
    return None


def split_header(msg):
    """Returns (list of raw header fields incl. line ends, body bytes)."""
    fields = []
    pos = 0
    while pos < len(msg):
        nl = msg.find(b"\n", pos)
        nxt = len(msg) if nl < 0 else nl + 1
        line = msg[pos:nxt]
        if line in (b"\r\n", b"\n"):
            return fields, msg[nxt:], True
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
        pos = nxt
    return fields, b"", False


def contract_one(inp, out, nsigs):
    src = open(inp, "rb").read()
    got = open(out, "rb").read()
    problems = []
    bare_lf = len(re.findall(rb"(?<!\r)\n", got))
    bare_cr = len(re.findall(rb"\r(?!\n)", got))
    if bare_lf or bare_cr:
        problems.append(f"output has {bare_lf} bare LF and {bare_cr} bare CR (want CRLF only)")
    want = re.sub(rb"\r?\n", b"\r\n", src)
    if not want.endswith(b"\r\n"):
        # SMTP cannot carry a last line without CRLF, and verifiers disagree
        # on hashing one (seen with dkimpy's signer: Mail::DKIM fails simple
        # body canonicalization, libopendkim's dkim_eom() returns "Syntax
        # error" for relaxed), so the output must end its last line.
        want += b"\r\n"
    fields, _, _ = split_header(got)
    top = fields[:nsigs]
    if len(top) < nsigs or not all(f.lower().startswith(b"dkim-signature:") for f in top):
        problems.append(f"want {nsigs} DKIM-Signature field(s) at the top, got: "
                        + repr([f[:40] for f in fields[:nsigs + 1]]))
    else:
        rest = got[sum(len(f) for f in top):]
        if rest + b"\r\n" == want:
            problems.append("the output's last line has no CRLF (the input's had none; SMTP always "
                            "ends it, and Mail::DKIM and libopendkim cannot verify such a body)")
        elif rest != want:
            # Locate the first difference for the report.
            i = next((k for k in range(min(len(rest), len(want))) if rest[k] != want[k]),
                     min(len(rest), len(want)))
            problems.append("message after the signature(s) differs from the input at byte "
                            f"{i}: got {rest[max(0, i - 20):i + 20]!r}, want {want[max(0, i - 20):i + 20]!r}")
    for f in top:
        if not f.endswith(b"\r\n"):
            problems.append(f"DKIM-Signature field does not end in CRLF: {f[-40:]!r}")
    return problems


def contract(jobs):
    bad = 0
    for line in open(jobs, encoding="utf-8"):
        inp, out, nsigs, case = line.rstrip("\n").split("\t")
        problems = contract_one(inp, out, int(nsigs))
        for p in problems:
            print(f"CONTRACT FAIL {case} [{os.path.basename(out)}]: {p}")
        bad += bool(problems)
    return 1 if bad else 0


def tamper(inp, out):
    msg = open(inp, "rb").read()
    fields, body, has_sep = split_header(msg)
    head = msg[:len(msg) - len(body)]
    if not has_sep:
        head += b"\r\n"
    m = re.search(rb"[A-Za-z0-9]", body)
    if m is None:
        body = body + b"tampered\r\n"
    else:
        c = body[m.start()]
        repl = b"X" if c != ord("X") else b"Y"
        body = body[:m.start()] + repl + body[m.start() + 1:]
    open(out, "wb").write(head + body)
    return 0


def check(verifier, manifest, results):
    expect = defaultdict(list)  # file -> [(d, s, a, want, case)]
    for line in open(manifest, encoding="utf-8"):
        f, case, d, s, a, want = line.rstrip("\n").split("\t")
        expect[f].append((d, s, a, want, case))
    got = defaultdict(list)  # file -> [(d, s, a, result, detail, raw line)]
    for line in open(results, encoding="utf-8", errors="replace"):
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 7:
            continue
        f, _idx, d, s, a, result, detail = parts[:7]
        got[f].append((d, s, a, result, detail, line.rstrip("\n")))

    failures = []
    skipped = defaultdict(list)
    tally = defaultdict(lambda: [0, 0, 0])  # (alg, want) -> [ok, skipped, total]
    for f in sorted(expect):
        seen = list(got.get(f, []))
        for d, s, a, want, case in expect[f]:
            key = (a, want)
            tally[key][2] += 1
            match = next((g for g in seen if g[0] == d and g[1] == s), None)
            label = f"{case} [{os.path.basename(f)}] d={d} s={s} a={a}"
            if match is None:
                failures.append(f"{label}: want {want}, verifier reported no such signature "
                                f"(lines for this file: {[g[5] for g in got.get(f, [])]})")
                continue
            seen.remove(match)
            result, detail = match[3], match[4]
            if result == want:
                tally[key][0] += 1
            elif result == "unsupported" and (verifier, a) in KNOWN_UNSUPPORTED:
                tally[key][1] += 1
                skipped[a].append(f"{label}: {detail}")
            else:
                failures.append(f"{label}: want {want}, got {result}: {detail}")
        for g in seen:
            failures.append(f"[{f}]: unexpected signature in "
                            f"verifier output: {g[5]}")

    print(f"== {verifier}: signatures by algorithm and expectation")
    for (a, want), (ok, skip, total) in sorted(tally.items()):
        print(f"   {a:16} expect {want}: {ok}/{total} as expected"
              + (f", {skip} SKIPPED (documented below)" if skip else ""))
    for a, lines in skipped.items():
        why = KNOWN_UNSUPPORTED[(verifier, a)]
        print(f"SKIP {verifier} {a}: {len(lines)} signature(s) not verifiable: {why}.")
        print(f"     verifier said (first): {lines[0]}")
    for msg in failures:
        print(f"FAIL {verifier}: {msg}")
    if failures:
        first = next(f for f in sorted(expect)
                     if any(m.find(f"[{os.path.basename(f)}]") >= 0 for m in failures))
        fields, _, _ = split_header(open(first, "rb").read())
        print(f"== {verifier}: signature field(s) of the first failing message, {first}:")
        for fld in fields:
            if fld.lower().startswith(b"dkim-signature:"):
                print("   " + fld.decode("utf-8", "replace").rstrip("\r\n").replace("\r\n", "\n   "))
    if not failures:
        print(f"ok: {verifier}: every signature verified as expected")
    return 1 if failures else 0


def main(argv):
    if len(argv) == 3 and argv[0] == "txt-arg":
        txt_arg(argv[1], argv[2])
        return 0
    if len(argv) in (2, 3) and argv[0] == "dns-txt":
        try:
            strings = dns_txt(*argv[1:])
        except (OSError, StopIteration) as e:
            print(f"dns-txt: {e}", file=sys.stderr)
            return 1
        if not strings:
            return 1
        print(f"{len(strings)}\t" + b"".join(strings).decode("ascii", "replace"))
        return 0
    if len(argv) == 2 and argv[0] == "contract":
        return contract(argv[1])
    if len(argv) >= 3 and argv[0] == "tamper":
        for f in argv[2:]:
            tamper(f, os.path.join(argv[1], os.path.basename(f)))
        return 0
    if len(argv) == 4 and argv[0] == "check":
        return check(argv[1], argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
