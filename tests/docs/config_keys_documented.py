#!/usr/bin/env python3
"""tests/docs/config_keys_documented.py — sigil.toml(5) documents every key.

Two checks against docs/man/sigil.toml.5.md (the configuration reference):
  1. every key of the embedded default conf/sigil.toml, set or commented
     out, is a list entry (- `key` ...) under its section's heading
     (### [section] or ### [[section]]; [bank.X] is [bank.NAME]);
  2. every key the loader accepts (the key lists of l.section(...) and
     l.check_keys(...) in conf/sections_*.cpp) is named as `key` somewhere.
It checks that keys are documented, not that what is said is right.
  config_keys_documented.py SOURCE_DIR     exit 1 and one line per gap
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
man = (root / "docs/man/sigil.toml.5.md").read_text()

# section -> keys documented under its heading
documented = {}
section = None
for line in man.splitlines():
    h = re.match(r"^###\s+\[\[?([A-Za-z_.]+)\]\]?\s*$", line)
    if h:
        section = h.group(1)
        documented.setdefault(section, set())
        continue
    if line.startswith("#"):
        section = None
        continue
    k = re.match(r"^- ((?:`[a-z_]+`(?:, )?)+)", line)
    if section and k:
        documented[section].update(re.findall(r"`([a-z_]+)`", k.group(1)))

gaps = []
section = None
toml = (root / "conf/sigil.toml").read_text()
for n, line in enumerate(toml.splitlines(), 1):
    s = re.match(r"^#?\s*\[\[?([A-Za-z_.]+)\]\]?", line)
    if s:
        section = re.sub(r"^bank\..*", "bank.NAME", s.group(1))
        continue
    k = re.match(r"^#?\s*([a-z_]+)\s*=", line)
    if k and section:
        if k.group(1) not in documented.get(section, set()):
            gaps.append(f"conf/sigil.toml:{n}: [{section}] {k.group(1)} is not documented "
                        f"under ### [{section}] in docs/man/sigil.toml.5.md")

named = set(re.findall(r"`([a-z_]+)`", man))
for src in sorted((root / "conf").glob("sections_*.cpp")):
    text = src.read_text()
    for call in re.finditer(r"l\.(?:section|check_keys)\(([^;]*?)\{([^}]*)\}", text, re.S):
        for key in re.findall(r'"([a-z_]+)"', call.group(2)):
            if key not in named:
                gaps.append(f"{src.relative_to(root)}: the loader accepts '{key}', "
                            f"docs/man/sigil.toml.5.md never names it")

for g in gaps:
    print(g)
checked = sum(len(v) for v in documented.values())
print(f"{len(gaps)} gap(s); {checked} keys documented in {len(documented)} sections")
sys.exit(1 if gaps else 0)
