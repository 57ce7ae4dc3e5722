#!/usr/bin/env bash
# tests/package/install_test.sh DEB — the Debian package on this machine, as
# an admin gets it (scripts/test runs it after scripts/package; needs root).
#
# Installs DEB with dpkg -i, checks the files, owners and modes it promises,
# the conffile, the sigil user and group, the unit (systemd-analyze verify);
# starts the installed /usr/sbin/sigild as the unit's ExecStart does (root,
# no -c, no NOTIFY_SOCKET, the unit's capability bounding set, no new
# privileges, memory-deny-write-execute) on a free port written into
# /etc/sigil/sigil.toml with sed as an admin would; relays a message and
# finds it in /var/lib/sigil/Maildir, owned by sigil, and counted on the
# packaged config's metrics endpoint (moved to a free port); checks sigild dropped
# to sigil (/proc/PID/status); stops it by PID; purges the package and checks
# that its files, directories, user and group are gone.
# It cannot run the unit under systemd (PID 1 here is not systemd): the
# sandboxing directives (ProtectSystem=, PrivateTmp=, ...) are checked by
# systemd-analyze only.
# Prints "package install test: PASS" or "... FAIL: why" last.
set -euo pipefail
deb=$(realpath "${1:?usage: install_test.sh DEB}")
here=$(cd "$(dirname "$0")" && pwd)
export SIGILD=/usr/sbin/sigild SIGIL=/usr/bin/sigil
source "$here/../e2e/lib.sh"

fail() { echo "package install test: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (dpkg -i)"
if dpkg-query -W -f='${Status}' sigil 2>/dev/null | grep -q 'ok installed\|config-files'; then
  fail "a sigil package is already on this machine: purge it first (dpkg --purge sigil)"
fi
getent passwd sigil >/dev/null && fail "a sigil user exists without the package: this test would delete it"

# Whatever happens below, the machine ends without the package.
purge_if_installed() {
  if dpkg-query -W -f='${Status}' sigil 2>/dev/null | grep -q 'installed\|config-files'; then
    dpkg --purge sigil >"$E2E_DIR/purge-cleanup.log" 2>&1
  fi
}
E2E_CLEANUP+=(purge_if_installed)

# owner_mode PATH: "user:group mode" as stat prints them.
owner_mode() { stat -c '%U:%G %a' "$1"; }
expect_owner_mode() {
  local got
  got=$(owner_mode "$1" 2>/dev/null) || fail "$1 missing"
  [ "$got" = "$2" ] || fail "$1 is $got, want $2"
}

echo "== dpkg -i $(basename "$deb")"
if ! dpkg -i "$deb" >"$E2E_DIR/dpkg-i.log" 2>&1; then
  # Missing dependencies: apt resolves them and finishes the configuration.
  apt-get install -f -y >>"$E2E_DIR/dpkg-i.log" 2>&1 || { cat "$E2E_DIR/dpkg-i.log"; fail "dpkg -i and apt-get install -f"; }
fi
dpkg-query -W -f='${Status}' sigil | grep -q 'install ok installed' || fail "sigil not installed"
pass "installed"

# --- files, owners, modes -------------------------------------------------
unit=$(dpkg -L sigil | grep '/systemd/system/sigil\.service$') || fail "no sigil.service in the package"
expect_owner_mode /usr/sbin/sigild "root:root 755"
expect_owner_mode /usr/bin/sigil "root:root 755"
expect_owner_mode /etc/sigil/sigil.toml "root:root 644"
expect_owner_mode "$unit" "root:root 644"
for f in inbound-verify scanning-gateway signing-relay; do
  expect_owner_mode "/usr/share/doc/sigil/examples/$f.toml" "root:root 644"
done
expect_owner_mode /usr/lib/sysusers.d/sigil.conf "root:root 644"
expect_owner_mode /usr/lib/tmpfiles.d/sigil.conf "root:root 644"
expect_owner_mode /usr/share/doc/sigil/copyright "root:root 644"
getent passwd sigil >/dev/null || fail "no sigil user"
getent group sigil >/dev/null || fail "no sigil group"
uid=$(id -u sigil)
gid=$(getent group sigil | cut -d: -f3)
[ "$uid" -lt 1000 ] || fail "sigil is not a system user (uid $uid)"
[ "$(id -g sigil)" = "$gid" ] || fail "sigil's primary group is not sigil"
case "$(getent passwd sigil | cut -d: -f7)" in
  */nologin|/bin/false) ;;
  *) fail "sigil has a login shell" ;;
esac
expect_owner_mode /var/lib/sigil "sigil:sigil 750"
expect_owner_mode /var/spool/sigil "sigil:sigil 700"
expect_owner_mode /run/sigil "sigil:sigil 750"
dpkg-query -W -f='${Conffiles}\n' sigil | grep -q '^ /etc/sigil/sigil.toml [0-9a-f]\{32\}$' ||
  fail "/etc/sigil/sigil.toml is not registered as a conffile"
for want in '^user = "sigil"' '^group = "sigil"' '^log_target = "syslog"' '^spool_dir = "/var/spool/sigil"'; do
  grep -q "$want" /etc/sigil/sigil.toml || fail "/etc/sigil/sigil.toml has no line $want"
done
pass "files, owners, modes, conffile, user and group"
[ ! -e /etc/systemd/system/multi-user.target.wants/sigil.service ] || fail "a first install enabled the service"

# --- the unit -------------------------------------------------------------
man_opt=()
# The man pages are checked when the package has them (the docs' build).
man -w sigild >/dev/null 2>&1 || man_opt=(--man=no)
systemd-analyze verify "${man_opt[@]}" "$unit" >"$E2E_DIR/verify.log" 2>&1 ||
  { cat "$E2E_DIR/verify.log"; fail "systemd-analyze verify $unit"; }
[ ! -s "$E2E_DIR/verify.log" ] || { cat "$E2E_DIR/verify.log"; fail "systemd-analyze verify warns about $unit"; }
pass "systemd-analyze verify ${man_opt[*]} $unit: no warning"

# --- the service, started as the unit starts it ---------------------------
port=$(free_port)
sed -i "s/^address = \"127\.0\.0\.1:10024\"/address = \"127.0.0.1:$port\"/" /etc/sigil/sigil.toml
grep -q "^address = \"127.0.0.1:$port\"" /etc/sigil/sigil.toml || fail "the listener address was not edited"
# The package serves metrics on 127.0.0.1:9101: moved to a free port too.
mport=$(free_port)
sed -i "s/^address = \"127\.0\.0\.1:9101\"/address = \"127.0.0.1:$mport\"/" /etc/sigil/sigil.toml
grep -q "^address = \"127.0.0.1:$mport\"" /etc/sigil/sigil.toml || fail "the metrics address was not edited"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ "$exec_start" = /usr/sbin/sigild ] || fail "ExecStart is '$exec_start', not /usr/sbin/sigild"
# CapabilityBoundingSet=CAP_A CAP_B -> setpriv's -all,+a,+b
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
[ -n "$caps" ] || fail "the unit has no CapabilityBoundingSet="
python3 "$here/mdwe_exec.py" --check || fail "this kernel has no PR_SET_MDWE (Linux >= 6.3)"
umask_unit=$(sed -n 's/^UMask=//p' "$unit")
start_bg sigild env -u NOTIFY_SOCKET -u LISTEN_FDS -u LISTEN_PID -C / \
  sh -c 'umask "$1"; shift; exec "$@"' sh "${umask_unit:-0022}" \
  setpriv --bounding-set="-all,$caps" --no-new-privs -- \
  python3 "$here/mdwe_exec.py" "$exec_start"
wait_port "$port" 20
kill -0 "$sigild_PID" 2>/dev/null || fail "sigild exited"
[ "$(readlink "/proc/$sigild_PID/exe")" = /usr/sbin/sigild ] || fail "PID $sigild_PID is not /usr/sbin/sigild"
status=/proc/$sigild_PID/status
# It binds, then drops: the port may accept a moment before the drop.
uids_are_sigils() { [ "$(awk '/^Uid:/ {print $2, $3, $4, $5}' "$status")" = "$uid $uid $uid $uid" ]; }
wait_for 5 uids_are_sigils ||
  fail "sigild's uids are not sigil's: $(grep '^Uid:' "$status")"
grep -q '^NoNewPrivs:[[:space:]]*1$' "$status" || fail "sigild runs without no_new_privs (the unit's NoNewPrivileges)"
[ "$(awk '/^Gid:/ {print $2, $3, $4, $5}' "$status")" = "$gid $gid $gid $gid" ] ||
  fail "sigild's gids are not sigil's: $(grep '^Gid:' "$status")"
groups=$(awk '/^Groups:/ {$1 = ""; print}' "$status" | tr -d ' ')
[ -z "$groups" ] || [ "$groups" = "$gid" ] || fail "sigild kept supplementary groups: $groups"
grep -q '^CapEff:[[:space:]]*0000000000000000$' "$status" || fail "sigild kept capabilities: $(grep '^CapEff:' "$status")"
pass "sigild runs as sigil ($uid:$gid), no capability left"

printf 'From: sender@example.org\r\nTo: rcpt@example.net\r\nSubject: package test\r\nMessage-ID: <pkg-test@example.org>\r\n\r\nrelayed by the installed sigild\r\n' >"$E2E_DIR/msg.eml"
reply=$(python3 "$here/../e2e/send_msg.py" "$port" "$E2E_DIR/msg.eml" 30)
[ "${reply%% *}" = 250 ] || fail "DATA got: $reply"
wait_for 10 '[ -n "$(find /var/lib/sigil/Maildir/new -type f 2>/dev/null)" ]' || fail "nothing in /var/lib/sigil/Maildir/new"
mail=$(find /var/lib/sigil/Maildir/new -type f | head -n 1)
grep -q '^Message-ID: <pkg-test@example.org>' "$mail" || fail "$mail is not the message sent"
expect_owner_mode /var/lib/sigil/Maildir "sigil:sigil 700"
[ "$(stat -c %U:%G "$mail")" = sigil:sigil ] || fail "$mail is owned by $(stat -c %U:%G "$mail")"
# check-config (no FILE: /etc/sigil/sigil.toml, checked as the daemon user)
# once the maildir exists: sigild makes it on the first delivery.
/usr/bin/sigil check-config >"$E2E_DIR/check-config.log" 2>&1 ||
  { cat "$E2E_DIR/check-config.log"; fail "sigil check-config refuses the installed /etc/sigil/sigil.toml"; }
left=$(find /var/lib/sigil /var/spool/sigil /run/sigil ! -user sigil -print)
[ -z "$left" ] || fail "not owned by sigil: $left"
pass "relayed a message into /var/lib/sigil/Maildir ($reply); everything sigil's dirs hold is sigil's"
metrics=$(curl -sf "http://127.0.0.1:$mport/metrics") || fail "GET /metrics on 127.0.0.1:$mport failed"
grep -qE '^sigil_messages_total\{action="relayed",bank="[^"]*",listener="default"\} 1$' <<<"$metrics" ||
  fail "/metrics does not count the relayed message: $(grep '^sigil_messages_total' <<<"$metrics")"
pass "the packaged config serves /metrics on loopback; the message is counted"

stop_pid "$sigild_PID" TERM || fail "sigild did not stop on SIGTERM"
rc=0
wait "$sigild_PID" || rc=$?
[ "$rc" -eq 0 ] || fail "sigild exited with $rc on SIGTERM"
pass "sigild stopped on SIGTERM"

# --- purge ------------------------------------------------------------------
dpkg --purge sigil >"$E2E_DIR/purge.log" 2>&1 || { cat "$E2E_DIR/purge.log"; fail "dpkg --purge sigil"; }
! dpkg-query -W -f='${Status}' sigil 2>/dev/null | grep -q 'installed\|config-files' || fail "sigil still known to dpkg"
for p in /usr/sbin/sigild /usr/bin/sigil /etc/sigil "$unit" /usr/lib/sysusers.d/sigil.conf \
         /etc/systemd/system/multi-user.target.wants/sigil.service \
         /usr/lib/tmpfiles.d/sigil.conf /usr/share/doc/sigil /var/lib/sigil /var/spool/sigil /run/sigil; do
  [ ! -e "$p" ] || fail "$p is still there after purge"
done
! getent passwd sigil >/dev/null || fail "the sigil user is still there after purge"
! getent group sigil >/dev/null || fail "the sigil group is still there after purge"
pass "purged: files, directories, user and group gone"
echo "package install test: PASS"
