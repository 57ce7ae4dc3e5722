#!/usr/bin/env bash
# tests/package/unit_verify.sh UNIT SIGILD TMPFILES — ctest package.unit_verify.
#
# The packaged unit, before any package is built: systemd-analyze verify on a
# copy whose ExecStart is the build's sigild (verify wants the executable to
# exist; the package test verifies the installed unit as it is), with no
# output allowed (a warning fails the test).  Then the unit's
# ReadWritePaths= must be exactly the directories tmpfiles.d creates, so the
# sandbox and the package never drift apart.
# It does not start the unit (PID 1 here is not systemd).
set -euo pipefail
unit=${1:?usage: unit_verify.sh UNIT SIGILD TMPFILES}
sigild=${2:?} tmpfiles=${3:?}
fail() { echo "package.unit_verify: FAIL: $*" >&2; exit 1; }
command -v systemd-analyze >/dev/null || fail "systemd-analyze missing (package systemd)"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
grep -q '^ExecStart=/usr/sbin/sigild$' "$unit" || fail "ExecStart is not /usr/sbin/sigild"
sed "s|^ExecStart=/usr/sbin/sigild\$|ExecStart=$sigild|" "$unit" >"$dir/sigil.service"
# --man=no: the man pages are installed by the package, not here.
if ! systemd-analyze verify --man=no "$dir/sigil.service" >"$dir/verify.log" 2>&1; then
  cat "$dir/verify.log"
  fail "systemd-analyze verify"
fi
[ ! -s "$dir/verify.log" ] || { cat "$dir/verify.log"; fail "systemd-analyze verify warns"; }
echo "ok: systemd-analyze verify: no warning"

rw=$(sed -n 's/^ReadWritePaths=//p' "$unit" | tr ' ' '\n' | sort)
made=$(awk '$1 == "d" {print $2}' "$tmpfiles" | sort)
[ "$rw" = "$made" ] || fail "ReadWritePaths= ($(echo $rw)) is not what tmpfiles.d makes ($(echo $made))"
echo "ok: ReadWritePaths= = tmpfiles.d's directories: $(echo $rw)"
for want in Type=notify NotifyAccess=main ExecReload='/bin/kill -HUP $MAINPID' WatchdogSec=30 \
            Restart=on-failure ProtectSystem=strict NoNewPrivileges=yes MemoryDenyWriteExecute=yes \
            SystemCallFilter=@system-service; do
  grep -qxF "$want" "$unit" || fail "the unit has no line $want"
done
echo "package.unit_verify: PASS"
