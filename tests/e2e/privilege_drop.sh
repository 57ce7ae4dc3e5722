#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.privilege_drop — [daemon] user, group and allow_root, and key file
# ownership, with a real system user this test creates (useradd -r, a unique
# name, a supplementary group; both removed in the EXIT trap).  Needs root
# (exit 77 otherwise).
#
# Asserts:
#   1. Started as root with user = U: /proc/PID/status shows U's uid on all
#      four Uid fields, the group's gid on all four Gid fields, and Groups is
#      U's groups (the supplementary one in, root's 0 out); the log says so.
#   2. A message is relayed into a maildir owned by U and carries a
#      DKIM-Signature s=sel1 that dkimpy verifies.
#   3. SIGHUP with a new key (owned by U, mode 0600, s=sel2): reloaded, and the
#      next message is signed with s=sel2 and verifies.
#   4. SIGHUP with a key owned by nobody: "reload refused" naming the owner;
#      mail is still signed with sel2.  A sigild started on that
#      configuration refuses to start, naming it.
#   5. A key owned by root, mode 0600: check-config (as root) refuses it,
#      saying U cannot read it on a reload; sigild starts (it loads keys as
#      root) and warns that a reload will be refused.
#   6. A spool_dir U cannot write: refused at start, naming daemon.spool_dir.
#   7. As root with no user: refused, with the allow_root hint; with
#      allow_root = true it starts.  Started as nobody with user = U: refused.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
source "$(dirname "$0")/signing_lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root (creates a user, starts sigild as root)"; exit 77; }
PY=/usr/bin/python3
"$PY" -c 'import dkim' 2>/dev/null || fail "$PY cannot import dkim (package python3-dkim)"

# ---------------------------------------------------------------- the user
U="sgt$$"
G="sgx$$"
groupadd -r "$G" || fail "groupadd $G"
useradd -r -U -M -d /nonexistent -s /usr/sbin/nologin -G "$G" "$U" || fail "useradd $U"
# The cleanup hooks run before lib.sh stops the recorded PIDs, and userdel
# refuses a user with processes: stop ours first (by PID).  userdel -r is not
# wanted (no home); the user's own group goes with it.
drop_user() {
  local p
  for p in "${E2E_PIDS[@]}"; do forget "$p" KILL; done
  userdel "$U"
}
E2E_CLEANUP+=("drop_user" "groupdel $G")
UID_U=$(id -u "$U")
GID_U=$(id -g "$U")
GID_X=$(getent group "$G" | cut -d: -f3)

W="$E2E_DIR/w"
K="$W/keys"
install -d -m 0755 "$W"
install -d -m 0700 -o "$U" -g "$U" "$W/spool" "$W/Maildir" "$K"
new_key() {  # new_key NAME OWNER: an RSA key $K/NAME.pem, mode 0600
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K/$1.pem" 2>/dev/null ||
    fail "openssl genpkey"
  chmod 600 "$K/$1.pem"
  chown "$2" "$K/$1.pem"
}
new_key k1 "$U"

take_ports P P2 P3
# config FILE KEYFILE SELECTOR PORT [DAEMON_LINES]: user = U unless
# DAEMON_LINES is given.
config() {
  local daemon_lines
  daemon_lines=${5-$(printf 'user = "%s"\ngroup = "%s"' "$U" "$U")}
  cat >"$1" <<CONF
[daemon]
$daemon_lines
drain_timeout = 5
spool_dir = "$W/spool"
[smtp]
hostname = "sigil.e2e.test"
[forward]
target = "maildir:$W/Maildir"
[[listener]]
name = "out"
address = "127.0.0.1:$4"
bank = "out"
[bank.out]
stages = ["dkim-sign"]
originating = true
[[key]]
name = "k"
file = "$2"
domain = "example.com"
selector = "$3"
[[signing]]
match = ["example.com"]
keys = ["k"]
CONF
}

# send N: a message from a@example.com; waits for its maildir file; MSG is its path.
send() {
  printf 'From: a@example.com\r\nTo: b@example.net\r\nSubject: drop %s\r\nMessage-ID: <%s@example.com>\r\n\r\nBody %s\r\n' \
    "$1" "$1" "$1" >"$E2E_DIR/m$1.eml"
  "$PY" "$E2E_HERE/send_msg.py" "$P" "$E2E_DIR/m$1.eml" 30 a@example.com b@example.net \
    >"$E2E_DIR/send$1.out" || fail "send $1: $(cat "$E2E_DIR/send$1.out")"
  grep -q '^250' "$E2E_DIR/send$1.out" || fail "send $1: $(cat "$E2E_DIR/send$1.out")"
  until_true 10 grep -rlq "Subject: drop $1\$" "$W/Maildir/new" || fail "message $1 not in the maildir"
  MSG=$(grep -rl "Subject: drop $1\$" "$W/Maildir/new" | head -n1)
}
# verify_sig SELECTOR KEYFILE: MSG carries s=SELECTOR and dkimpy verifies it
# against KEYFILE's public half.
verify_sig() {
  grep -q "s=$1;" "$MSG" || fail "$MSG is not signed with s=$1: $(grep -i -A2 '^DKIM-Signature' "$MSG")"
  "$PY" - "$MSG" "$1._domainkey.example.com" "v=DKIM1; k=rsa; p=$(txt_p "$2")" <<'PY' ||
import sys, dkim
msg = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
dns = {sys.argv[2].encode(): sys.argv[3].encode()}
sys.exit(0 if dkim.verify(msg, dnsfunc=lambda n, timeout=5: dns.get(n.rstrip(b"."))) else 1)
PY
    fail "the s=$1 signature of $MSG does not verify"
}

# ---------------------------------------------------------------- 1. the drop
CFG="$E2E_DIR/sigil.toml"
config "$CFG" "$K/k1.pem" sel1 "$P"
"$SIGIL" check-config "$CFG" >"$E2E_DIR/check.out" 2>&1 || fail "check-config: $(cat "$E2E_DIR/check.out")"
run_sigild sigild "$CFG" "$P"
status=/proc/$sigild_PID/status
grep -qE "^Uid:\s+$UID_U\s+$UID_U\s+$UID_U\s+$UID_U\$" "$status" || fail "$(grep ^Uid "$status"), want $UID_U x4"
grep -qE "^Gid:\s+$GID_U\s+$GID_U\s+$GID_U\s+$GID_U\$" "$status" || fail "$(grep ^Gid "$status"), want $GID_U x4"
groups=$(grep '^Groups:' "$status" | cut -d: -f2 | tr -s ' \t' '\n' | grep . | sort -n | tr '\n' ' ')
want=$(printf '%s\n' "$GID_U" "$GID_X" | sort -n | tr '\n' ' ')
[ "$groups" = "$want" ] || fail "Groups: $groups, want $want"
log_has "$E2E_DIR/sigild.log" "dropped privileges to user $U \\(uid $UID_U\\)" || fail "no drop line in the log"
pass "1. running as $U: Uid $UID_U x4, Gid $GID_U x4, Groups $groups"

# ---------------------------------------------------------------- 2. relay and sign
send 1
verify_sig sel1 "$K/k1.pem"
[ "$(stat -c %U "$MSG")" = "$U" ] || fail "$MSG is owned by $(stat -c %U "$MSG"), not $U"
pass "2. relayed into the maildir as $U, signed s=sel1, verifies"

# ---------------------------------------------------------------- 3. reload with a new key
new_key k2 "$U"
config "$CFG" "$K/k2.pem" sel2 "$P"
before=$(wc -l <"$E2E_DIR/sigild.log")
kill -HUP "$sigild_PID"
until_true 10 eval "tail -n +$((before + 1)) '$E2E_DIR/sigild.log' | grep -q 'configuration reloaded'" ||
  fail "reload with k2 not accepted: $(tail -n +$((before + 1)) "$E2E_DIR/sigild.log")"
send 2
verify_sig sel2 "$K/k2.pem"
pass "3. SIGHUP as $U re-read a new key; s=sel2 verifies"

# ---------------------------------------------------------------- 4. a key owned by another user
new_key k3 nobody
config "$CFG" "$K/k3.pem" sel3 "$P"
before=$(wc -l <"$E2E_DIR/sigild.log")
kill -HUP "$sigild_PID"
until_true 10 eval "tail -n +$((before + 1)) '$E2E_DIR/sigild.log' | grep -q 'reload refused'" ||
  fail "reload with a key of nobody's not refused"
tail -n +$((before + 1)) "$E2E_DIR/sigild.log" | grep -q "k3.pem): private key is owned by nobody" ||
  fail "the refusal does not name the owner: $(tail -n +$((before + 1)) "$E2E_DIR/sigild.log")"
send 3
verify_sig sel2 "$K/k2.pem"
spawn refused "$SIGILD" -c "$CFG"
wait_gone "$refused_PID" 10 || fail "sigild with a key of nobody's did not exit"
wait_rc "$refused_PID"
[ "$WAIT_RC" -ne 0 ] || fail "sigild with a key of nobody's exited 0"
log_has "$E2E_DIR/refused.log" "owned by nobody .*chown $U " || fail "start refusal: $(cat "$E2E_DIR/refused.log")"
pass "4. a key owned by nobody: reload refused (sel2 still signs), start refused"

# ---------------------------------------------------------------- 5. check-config: a key U cannot read
new_key k4 root
config "$E2E_DIR/rootkey.toml" "$K/k4.pem" sel4 "$P2"
if "$SIGIL" check-config "$E2E_DIR/rootkey.toml" >"$E2E_DIR/check4.out" 2>&1; then
  fail "check-config accepted a key $U cannot read: $(cat "$E2E_DIR/check4.out")"
fi
grep -q "as user $U (uid $UID_U): key k ($K/k4.pem): Permission denied: a SIGHUP reload" \
  "$E2E_DIR/check4.out" || fail "check-config: $(cat "$E2E_DIR/check4.out")"
run_sigild rootkey "$E2E_DIR/rootkey.toml" "$P2"
log_has "$E2E_DIR/rootkey.log" "k4.pem\): Permission denied: not readable by $U .*a SIGHUP reload will be refused" ||
  fail "no warning for a key $U cannot re-read: $(cat "$E2E_DIR/rootkey.log")"
forget "$rootkey_PID"
pass "5. a root-owned key: check-config refuses it, sigild warns that $U cannot re-read it"

# ---------------------------------------------------------------- 6. a spool U cannot write
config "$E2E_DIR/spool.toml" "$K/k2.pem" sel2 "$P2"
install -d -m 0755 "$W/rootspool"
sed -i "s|^spool_dir = .*|spool_dir = \"$W/rootspool\"|" "$E2E_DIR/spool.toml"
spawn spool "$SIGILD" -c "$E2E_DIR/spool.toml"
wait_gone "$spool_PID" 10 || fail "sigild with an unwritable spool_dir did not exit"
wait_rc "$spool_PID"
[ "$WAIT_RC" -ne 0 ] || fail "sigild with an unwritable spool_dir exited 0"
log_has "$E2E_DIR/spool.log" "running as $U .*cannot write" || fail "$(cat "$E2E_DIR/spool.log")"
log_has "$E2E_DIR/spool.log" "daemon.spool_dir $W/rootspool: is not writable" || fail "$(cat "$E2E_DIR/spool.log")"
pass "6. an unwritable spool_dir: refused, named"

# ---------------------------------------------------------------- 7. root without user; not root
config "$E2E_DIR/root.toml" "$K/k2.pem" sel2 "$P2" ""
spawn asroot "$SIGILD" -c "$E2E_DIR/root.toml"
wait_gone "$asroot_PID" 10 || fail "sigild as root without user did not exit"
wait_rc "$asroot_PID"
[ "$WAIT_RC" -ne 0 ] || fail "sigild as root without user exited 0"
log_has "$E2E_DIR/asroot.log" "started as root with no \\[daemon\\] user.*allow_root = true" ||
  fail "$(cat "$E2E_DIR/asroot.log")"
config "$E2E_DIR/allow.toml" "$K/k4.pem" sel4 "$P3" "allow_root = true"  # k4: root's
run_sigild allowed "$E2E_DIR/allow.toml" "$P3"
grep -qE '^Uid:\s+0\s' "/proc/$allowed_PID/status" || fail "allow_root: not running as root"
forget "$allowed_PID"
spawn other setpriv --reuid=nobody --regid=nogroup --clear-groups "$SIGILD" -c "$CFG"
wait_gone "$other_PID" 10 || fail "sigild started as nobody with user $U did not exit"
wait_rc "$other_PID"
[ "$WAIT_RC" -ne 0 ] || fail "sigild started as nobody with user $U exited 0"
log_has "$E2E_DIR/other.log" "user is $U, group $U, but sigild was started as nobody" ||
  fail "$(cat "$E2E_DIR/other.log")"
pass "7. root without user: refused (allow_root = true runs); as nobody with user $U: refused"
