#!/usr/bin/env python3
"""tests/e2e/scrape.py — reads one series from a Prometheus text endpoint.

Usage:
  scrape.py PORT NAME [LABEL=VALUE...]
GETs http://127.0.0.1:PORT/metrics and prints the value of the series NAME
whose labels are exactly the LABEL=VALUE pairs given (in any order), as
written by the exporter.  Exit 1 when there is no such series, 2 when the
endpoint does not answer 200.  Does not: parse escaped quotes in label values
(Sigil's label values are names and words without them).
"""
import re
import sys
import urllib.request

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"')


def main():
    port, name, want = sys.argv[1], sys.argv[2], dict(a.split("=", 1) for a in sys.argv[3:])
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            if r.status != 200:
                sys.exit(2)
            text = r.read().decode()
    except OSError as e:
        print(f"scrape: {e}", file=sys.stderr)
        sys.exit(2)
    for line in text.splitlines():
        m = LINE.match(line)
        if m and m.group(1) == name and dict(LABEL.findall(m.group(2) or "")) == want:
            print(m.group(3))
            return
    sys.exit(1)


if __name__ == "__main__":
    main()
