#!/usr/bin/env bash
# tests/docs/help_version.sh — the command-line help and version of sigil
# and sigild: every command's --help exits 0 and prints its usage, the usage
# lists each command once, --version prints CMake's project version, and an
# unknown command or option exits 2 with a pointer to --help.  It does not run
# the commands themselves (tests/filter/cli_test.cpp, tests/e2e/keys_cli.sh).
#   SIGIL=... SIGILD=... help_version.sh VERSION
set -euo pipefail
version=${1:?usage: help_version.sh VERSION}
: "${SIGIL:?}" "${SIGILD:?}" "${SIGIL_DEFAULT_CONFIG:?}"
fail=0
bad() { echo "FAIL $*"; fail=1; }

# expect STATUS PATTERN CMD...: CMD exits STATUS and its output (stdout and
# stderr together) contains PATTERN (a fixed string).
expect() {
  local want=$1 pattern=$2 out st
  shift 2
  set +e
  out=$("$@" 2>&1)
  st=$?
  set -e
  if [ "$st" -ne "$want" ]; then
    bad "$*: exit $st, want $want"; echo "$out" | sed 's/^/    /'
  elif [[ "$out" != *"$pattern"* ]]; then
    bad "$*: output lacks '$pattern'"; echo "$out" | sed 's/^/    /'
  else
    echo "ok   $* (exit $st)"
  fi
}

expect 0 "usage: sigil COMMAND" "$SIGIL" --help
expect 0 "usage: sigil COMMAND" "$SIGIL" -h
expect 0 "usage: sigil COMMAND" "$SIGIL" help
for c in check-config show-default version; do
  expect 0 "usage: sigil $c" "$SIGIL" "$c" --help
done
# Both name the default configuration this build was given, not a literal.
expect 0 "without -c, $SIGIL_DEFAULT_CONFIG when" "$SIGILD" --help
expect 0 "Without FILE: $SIGIL_DEFAULT_CONFIG when" "$SIGIL" check-config --help
for c in generate show test; do
  expect 0 "usage: sigil keys $c" "$SIGIL" keys "$c" --help
done
for c in list show release; do
  expect 0 "usage: sigil quarantine $c" "$SIGIL" quarantine "$c" --help
done
expect 0 "usage: sigil import opendkim" "$SIGIL" import opendkim --help
expect 0 "sigil import opendkim" "$SIGIL" import --help
expect 0 "sigil keys generate" "$SIGIL" keys --help
expect 0 "sigil quarantine release" "$SIGIL" quarantine --help
expect 0 "usage: sigild" "$SIGILD" --help
expect 0 "usage: sigild" "$SIGILD" -h

expect 0 "sigil $version" "$SIGIL" --version
expect 0 "sigil $version" "$SIGIL" version
expect 0 "sigild $version" "$SIGILD" --version
[ "$("$SIGIL" --version)" = "sigil $version" ] || bad "sigil --version: '$("$SIGIL" --version)'"
[ "$("$SIGILD" --version)" = "sigild $version" ] || bad "sigild --version: '$("$SIGILD" --version)'"

expect 2 "see sigil --help" "$SIGIL" --bogus
expect 2 "see sigil --help" "$SIGIL" frobnicate
expect 2 "see sigil keys show --help" "$SIGIL" keys show
expect 2 "see sigil import opendkim --help" "$SIGIL" import opendkim a.conf b.conf
expect 2 "see sigild --help" "$SIGILD" --bogus
expect 2 "see sigild --help" "$SIGILD" -c

# The usage names each command once, each with its one-line summary below.
usage=$("$SIGIL" --help)
for c in "check-config" "show-default" "version" "keys generate" "keys show" "keys test" \
         "quarantine list" "quarantine show" "quarantine release" "import opendkim"; do
  n=$(grep -c "^  $c\( \|$\)" <<<"$usage" || true)  # grep -c exits 1 on 0 matches; n is checked
  [ "$n" -eq 1 ] || bad "sigil --help lists '$c' $n times"
done
exit $fail
