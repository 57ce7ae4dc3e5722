#!/usr/bin/env python3
"""tests/layout/check_layout.py — the module graph, checked from the includes.

Every project header a source file includes ("dir/..." in quotes) must come
from a module the file's own module may use (docs/ARCHITECTURE.md, "Module
graph").  The static libraries link in the same order, so an include against
the graph is also a link dependency against it.

  check_layout.py ROOT        exit 1 and one line per violation, file:line
  check_layout.py --self-test plants violations in a copy and expects them
"""
import pathlib
import re
import shutil
import sys
import tempfile

# module -> the modules its files may include (itself always).
ALLOWED = {
    "conf": set(),
    "dns": {"conf"},
    "keys": {"conf"},
    "dkim": {"conf", "keys"},
    "filter/core": {"conf"},
    "filter/net": {"conf", "filter/core"},
    "filter/delivery": {"conf", "filter/core", "filter/net"},
    "filter/stages": {"conf", "dns", "keys", "dkim", "filter/core", "filter/net"},
    "filter/smtp": {"conf", "filter/core", "filter/net", "filter/delivery"},
    "filter/milter": {"conf", "filter/core", "filter/net", "filter/delivery"},
    "filter/app": {"conf", "dns", "keys", "dkim", "filter/core", "filter/net",
                   "filter/delivery", "filter/stages", "filter/smtp", "filter/milter"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def module_of(rel: str):
    """The module a path (relative to the root) belongs to, or None."""
    parts = rel.split("/")
    if parts[0] == "filter" and len(parts) > 2:
        return "filter/" + parts[1]
    if parts[0] == "filter":
        return "filter/"  # a file directly in filter/: not allowed at all
    return parts[0] if parts[0] in ALLOWED else None


def violations(root: pathlib.Path):
    out = []
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".cpp", ".hpp") or not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        mod = module_of(rel)
        if mod is None:
            continue
        if mod == "filter/":
            out.append(f"{rel}: a source file directly in filter/ (put it in a module folder)")
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = module_of(m.group(1))
            if target is None or target == mod:
                continue  # a generated or third-party header, or the module's own
            if target not in ALLOWED[mod]:
                out.append(f"{rel}:{n}: {mod} may not include {m.group(1)} ({target})")
    return out


def self_test():
    src = pathlib.Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as tmp:
        tree = pathlib.Path(tmp)
        for mod in ("conf", "filter/core", "filter/stages", "filter/smtp"):
            shutil.copytree(src / mod, tree / mod)
        if violations(tree):
            print("self-test: the copied tree should be clean:", *violations(tree), sep="\n  ")
            return 1
        planted = {
            "filter/core/bad_a.cpp": '#include "filter/stages/registry.hpp"\n',
            "filter/core/bad_b.hpp": '#include "filter/milter/milter_session.hpp"\n',
            "filter/stages/bad_c.cpp": '#include "filter/smtp/smtp_session.hpp"\n',
            "filter/bad_d.cpp": "int x;\n",
        }
        for rel, text in planted.items():
            (tree / rel).write_text(text)
        found = violations(tree)
        missing = [rel for rel in planted if not any(v.startswith(rel) for v in found)]
        if missing or len(found) != len(planted):
            print("self-test: expected one violation per planted file, got:", *found, sep="\n  ")
            return 1
    print("self-test: every planted violation was found")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    found = violations(pathlib.Path(sys.argv[1]))
    for v in found:
        print(v)
    print(f"module graph: {len(found)} violation(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
