#!/usr/bin/env bash
# tests/docs/man_render.sh — each built man page renders with man(1) without
# a single warning (groff's -ww through `man --warnings`): no undefined
# macro, no line too long to break, no bad escape.  It checks the rendering
# only; what the pages say is checked by config_keys_documented.py and by
# reading them.
#   man_render.sh PAGE...     exit 1 and the warnings when any page has one
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: man_render.sh PAGE..." >&2; exit 2; }
fail=0
for page in "$@"; do
  if [ ! -s "$page" ]; then
    echo "FAIL $page: missing or empty (is the man target built?)"
    fail=1
    continue
  fi
  # MANROFFSEQ='': no preprocessor guessing; MANWIDTH: a fixed line length.
  err=$(MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
  if [ -n "$err" ]; then
    echo "FAIL $page:"
    echo "$err"
    fail=1
  else
    lines=$(MANWIDTH=80 man -E UTF-8 -l "$page" 2>/dev/null | wc -l)
    echo "ok   $page ($lines lines)"
  fi
done
exit $fail
