#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.import_opendkim — `sigil import opendkim` on real configurations, and
# what Sigil signs under the result compared with what OpenDKIM signs.
#
# 1. Debian's examples (/usr/share/doc/opendkim/examples: opendkim.conf.sample,
#    .simple, .simple-verify), their key paths pointed at keys made here with
#    opendkim-genkey and the sample's placeholder port made a number: each is
#    imported (--out, which refuses to replace a file) and passes
#    `sigil check-config`; nothing is dropped without a `# not imported` line.
# 2. Three signing setups: the sample (Domain/Selector/KeyFile), and a
#    multi-domain KeyTable with a SigningTable in `refile:` form and in `file:`
#    form (MultipleSignatures, SignHeaders, OversignHeaders, InternalHosts
#    file:, Canonicalization).  For each, OpenDKIM runs as a milter with the
#    original file and sigild with the imported one (only Socket differs),
#    behind one private Postfix (smtpd_milters, one smtpd port each); the same
#    messages go through both.  Each message Sigil signed carries the same
#    d=, s=, c= and h= list (compared as a sorted multiset: oversigned fields
#    count) as OpenDKIM's, and verifies with opendkim-testmsg.
# opendkim-testmsg asks the resolv.conf servers on port 53: it runs in a
# private network and mount namespace (unshare) where a dnsmasq on
# 127.0.0.1:53 publishes the keys and resolv.conf is bind-mounted over.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
source "$(dirname "$0")/postfix_lib.sh"
source "$(dirname "$0")/signing_lib.sh"

pf_require
PY=/usr/bin/python3
OPENDKIM=/usr/sbin/opendkim
EX=/usr/share/doc/opendkim/examples
for t in "$OPENDKIM" /usr/sbin/opendkim-genkey /usr/sbin/opendkim-testmsg; do
  [ -x "$t" ] || fail "$t missing (packages opendkim, opendkim-tools)"
done
[ -f "$EX/opendkim.conf.sample" ] || fail "$EX: Debian's opendkim examples missing (package opendkim)"
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || fail "dnsmasq not installed (package dnsmasq-base)"
command -v unshare >/dev/null || fail "unshare missing (package util-linux)"
CLIENT="$E2E_HERE/postfix_matrix.py"
cd "$E2E_DIR"
K="$E2E_DIR/keys"
mkdir -m 0700 "$K"

# genkey DOMAIN SELECTOR: $K/DOMAIN.SELECTOR.private (opendkim-genkey, mode 0600).
genkey() {
  /usr/sbin/opendkim-genkey -b 2048 -D "$K" -d "$1" -s "$2" || fail "opendkim-genkey $1 $2"
  mv "$K/$2.private" "$K/$1.$2.private"
  chmod 600 "$K/$1.$2.private"
}
genkey example.com my-selector-name
genkey example.com s1
genkey example.net s2
genkey example.org s3
genkey example.org s3e

# import NAME: NAME.conf -> NAME.toml; check-config must accept it.
import() {
  rm -f "$1.toml"
  "$SIGIL" import opendkim "$1.conf" --out "$1.toml" 2>"$1.import.err" ||
    fail "import $1: $(cat "$1.import.err")"
  "$SIGIL" import opendkim "$1.conf" --out "$1.toml" 2>/dev/null &&
    fail "import $1: --out replaced an existing file"
  "$SIGIL" check-config "$1.toml" >"$1.check" 2>&1 ||
    fail "check-config refused the import of $1: $(cat "$1.check"; cat "$1.toml")"
  # Every setting of the original is imported or listed.
  local key
  for key in $(grep -vE '^\s*(#|$)' "$1.conf" | awk '{print $1}' | sort -u); do
    case $key in
      KeyTable | SigningTable | Domain | Selector | KeyFile | Canonicalization | SignHeaders | \
        OversignHeaders | InternalHosts | Mode | Socket | MinimumKeyBits) ;;
      *) grep -q "^# not imported: $key " "$1.toml" || fail "$1: $key neither imported nor listed" ;;
    esac
  done
  pass "$1 imported, check-config: $(cat "$1.check")"
}

# ================================================================ 1. Debian's examples
take_ports ODS SGS PFS1 PFS2 ODR SGR PFR1 PFR2 ODF SGF PFF1 PFF2
cp "$EX/opendkim.conf.simple" simple.conf
cp "$EX/opendkim.conf.simple-verify" simple-verify.conf
sed "s#/var/db/dkim/localhost.private#$K/localhost.default.private#" -i simple.conf
cp "$K/example.com.s1.private" "$K/localhost.default.private"
sed -e "s#/var/db/dkim/example.private#$K/example.com.my-selector-name.private#" \
  -e "s#^Socket.*#Socket inet:$ODS@127.0.0.1#" "$EX/opendkim.conf.sample" >sample.conf
grep -q "^Domain.*example.com" sample.conf || fail "the sample no longer signs example.com"
for n in simple simple-verify sample; do import "$n"; done
grep -q '^# not imported: Domain localhost' simple.toml || fail "simple: localhost key not listed"
grep -q 'stages = \["dkim-verify"\]' simple-verify.toml || fail "simple-verify: Mode v not imported"
! grep -q '^stages = .*dkim-sign' simple-verify.toml || fail "simple-verify (Mode v) signs"

# ================================================================ 2. multi-domain tables
cat >keytable <<KT
# name     domain:selector:key
k-com   example.com:s1:$K/example.com.s1.private
k-net   example.net:s2:$K/example.net.s2.private
k-org   example.org:s3:$K/example.org.s3.private
k-org2  example.org:s3e:$K/example.org.s3e.private
KT
cat >signingtable.re <<ST
ceo@example.org   k-org
ceo@example.org   k-org2
*@example.com     k-com
*@*.example.net   k-net
*@example.net     k-net
ST
cat >signingtable.file <<ST
example.com       k-com
example.net       k-net
ceo@example.org   k-org
ST
printf '127.0.0.1\n10.0.0.0/8\n' >internalhosts
multi() {  # multi NAME OD_PORT SIGNINGTABLE [EXTRA LINES]
  cat >"$1.conf" <<CONF
Syslog                  no
KeyTable                file:$E2E_DIR/keytable
SigningTable            $3
InternalHosts           file:$E2E_DIR/internalhosts
Canonicalization        relaxed/relaxed
OversignHeaders         From
Mode                    sv
MinimumKeyBits          1024
Socket                  inet:$2@127.0.0.1
${4:-}
CONF
}
multi refile "$ODR" "refile:$E2E_DIR/signingtable.re" "MultipleSignatures yes"
multi file "$ODF" "file:$E2E_DIR/signingtable.file" "SignHeaders From,To,Subject,Date,Message-ID,Reply-To"
for n in refile file; do import "$n"; done

# ================================================================ milters
# OpenDKIM with each original; sigild with each import made from a copy whose
# Socket is sigild's port (the only difference).
start_pair() {  # start_pair NAME OD_PORT SG_PORT
  local n=$1
  # The keys live under /tmp, which OpenDKIM's key-safety check refuses.
  printf 'Background no\nPidFile %s/%s.opendkim.pid\nRequireSafeKeys no\n' "$E2E_DIR" "$n" >>"$n.conf"
  spawn "od_$n" "$OPENDKIM" -f -x "$E2E_DIR/$n.conf"
  sed "s#^Socket.*#Socket inet:$3@127.0.0.1#" "$n.conf" >"$n.sigil.conf"
  rm -f "$n.sigil.toml"
  "$SIGIL" import opendkim "$n.sigil.conf" --out "$n.sigil.toml" 2>/dev/null || fail "import $n.sigil"
  { printf '[daemon]\nallow_root = true   # the tests run as root (CI)\nspool_dir = "%s"\n' "$E2E_DIR"
    printf 'drain_timeout = 5\n\n'; cat "$n.sigil.toml"; } >"$n.run.toml"
  "$SIGIL" check-config "$n.run.toml" >/dev/null 2>&1 || fail "check-config $n.run.toml"
  run_sigild "sg_$n" "$n.run.toml" "$3"
  until_true 10 port_open "$2" || fail "opendkim ($n) is not listening on $2: $(cat "od_$n.log")"
}
start_pair sample "$ODS" "$SGS"
start_pair refile "$ODR" "$SGR"
start_pair file "$ODF" "$SGF"

PF="$E2E_DIR/pf"
mkdir -p "$PF/mail"
chown nobody "$PF/mail"
MAILDIR="$PF/mail/rcpt/new"
svc() { printf '127.0.0.1:%s inet n - n - - smtpd\n  -o smtpd_milters=inet:127.0.0.1:%s\n' "$1" "$2"; }
pf_setup "$PF" "" "" "$(svc "$PFS1" "$ODS"; svc "$PFS2" "$SGS"; svc "$PFR1" "$ODR"
  svc "$PFR2" "$SGR"; svc "$PFF1" "$ODF"; svc "$PFF2" "$SGF")" "\
relay_domains =
$(pf_mailbox_conf "$PF")
milter_default_action = tempfail
milter_protocol = 6"
pf_start "$PF" "$PFS1" "$PFS2" "$PFR1" "$PFR2" "$PFF1" "$PFF2"
pass "Postfix, three OpenDKIMs and three sigilds are up"

# ================================================================ messages
DATE=$(LC_ALL=C date -R)
# send ID FROM PORT: a message from FROM (with Reply-To and Cc, so that the
# header lists differ by configuration) through Postfix on PORT.
send() {
  {
    printf 'From: Someone <%s>\nTo: <rcpt@example.net>\nCc: <other@example.net>\n' "$2"
    printf 'Reply-To: <%s>\nSubject: import %s\nDate: %s\nMessage-ID: <%s@e2e.test>\n' "$2" "$1" "$DATE" "$1"
    printf 'MIME-Version: 1.0\nContent-Type: text/plain\n\nHello  there,\n\tthis is %s.\n\n\n' "$1"
  } | sed 's/$/\r/' >"$1.eml"
  local reply
  reply=$("$PY" "$CLIENT" send "$3" "$2" rcpt@example.net "$1.eml")
  grep -qE '^DATA 250 ' <<<"$reply" || fail "$1: Postfix answered '$reply', want DATA 250"
}
# sigs FILE: one line per DKIM-Signature: "d=.. s=.. c=.. h=sorted,lower,list".
sigs() {
  # No signature is an answer (no lines), not an error: compare counts them.
  headers_of "$1" | { grep -i '^DKIM-Signature:' || true; } | sed 's/^[^:]*://' | tr -d ' \t' |
    while IFS= read -r v; do
      local d s c h
      d=$(tr ';' '\n' <<<"$v" | sed -n 's/^d=//p')
      s=$(tr ';' '\n' <<<"$v" | sed -n 's/^s=//p')
      c=$(tr ';' '\n' <<<"$v" | sed -n 's/^c=//p')
      [[ $c == */* ]] || c="$c/simple"  # RFC 6376 §3.5: c=relaxed is relaxed/simple
      h=$(tr ';' '\n' <<<"$v" | sed -n 's/^h=//p' | tr 'A-Z:' 'a-z\n' | sort | paste -sd, -)
      echo "d=$d s=$s c=$c h=$h"
    done | sort
}
VERIFY=()
compare() {  # compare NAME FROM OD_PF_PORT SG_PF_PORT WANT_SIGNATURES
  local a="$1-od" b="$1-sg" fa fb
  send "$a" "$2" "$3"
  send "$b" "$2" "$4"
  fa=$(dump_of "$a" "$MAILDIR" 30)
  fb=$(dump_of "$b" "$MAILDIR" 30)
  sigs "$fa" >"$a.sigs"
  sigs "$fb" >"$b.sigs"
  [ "$(grep -c . "$a.sigs")" -eq "$5" ] || fail "$1: OpenDKIM made $(grep -c . "$a.sigs") signatures, want $5: $(cat "$a.sigs")"
  diff "$a.sigs" "$b.sigs" >"$1.diff" ||
    fail "$1 ($2): Sigil's signatures differ from OpenDKIM's: $(cat "$1.diff")"
  cp "$fb" "$b.signed"
  [ "$5" -eq 0 ] || VERIFY+=("$E2E_DIR/$b.signed")
  pass "$1 ($2): Sigil signs as OpenDKIM: $(paste -sd'|' "$b.sigs")"
}
compare sample alice@example.com "$PFS1" "$PFS2" 1
compare re-com alice@example.com "$PFR1" "$PFR2" 1
compare re-sub bob@mx.example.net "$PFR1" "$PFR2" 1
compare re-net bob@example.net "$PFR1" "$PFR2" 1
compare re-ceo ceo@example.org "$PFR1" "$PFR2" 2
compare re-none carol@example.org "$PFR1" "$PFR2" 0
compare file-com alice@example.com "$PFF1" "$PFF2" 1
compare file-net bob@example.net "$PFF1" "$PFF2" 1
compare file-ceo ceo@example.org "$PFF1" "$PFF2" 1

# ================================================================ opendkim-testmsg
records=()
for p in "$K"/*.private; do
  b=$(basename "$p" .private)          # DOMAIN.SELECTOR
  sel=${b##*.}
  dom=${b%.*}
  txt="v=DKIM1; k=rsa; p=$(txt_p "$p")"
  records+=("--txt-record=$sel._domainkey.$dom,$(printf '%s' "$txt" | fold -w 255 | paste -sd, -)")
done
echo "nameserver 127.0.0.1" >resolv.conf
cat >verify.sh <<'SH'
# Run inside unshare --net --mount: lo up, dnsmasq on 127.0.0.1:53, our
# resolv.conf over the system's, then opendkim-testmsg on each file.
set -u
ip link set lo up || exit 3
mount --bind "$E2E_DIR/resolv.conf" /etc/resolv.conf || exit 3
"$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --port=53 --listen-address=127.0.0.1 \
  --bind-interfaces --no-resolv --no-hosts --local=/#/ --user=root "${RECORDS[@]}" \
  >"$E2E_DIR/dnsmasq.log" 2>&1 &
dns=$!
sleep 1
rc=0
for f in "${FILES[@]}"; do
  if /usr/sbin/opendkim-testmsg <"$f" >"$f.testmsg" 2>&1 && ! [ -s "$f.testmsg" ]; then
    echo "verified $f"
  else
    echo "NOT verified $f: $(cat "$f.testmsg")"
    rc=1
  fi
done
kill "$dns"
wait "$dns"
exit $rc
SH
# Arrays cannot be exported: the script gets them declared.
# A copy with its body changed must fail: proof that the verifier checks.
sed 's/this is re-com-sg/this is changed/' re-com-sg.signed >tampered.signed
cmp -s re-com-sg.signed tampered.signed && fail "tampering changed nothing"
want=${#VERIFY[@]}
VERIFY+=("$E2E_DIR/tampered.signed")
{ printf 'E2E_DIR=%q\nDNSMASQ=%q\n' "$E2E_DIR" "$DNSMASQ"; declare -p records | sed 's/records=/RECORDS=/'
  declare -p VERIFY | sed 's/VERIFY=/FILES=/'; cat verify.sh; } >verify.run.sh
set +e
unshare --net --mount bash verify.run.sh >verify.out 2>&1
rc=$?
set -e
[ "$rc" -le 1 ] || fail "the namespace for opendkim-testmsg failed (rc $rc): $(cat verify.out)"
# Each signed copy (re-none has none) must be listed as verified, the
# tampered one as not.
n=$(grep -c '^verified ' verify.out || true)  # grep -c exits 1 on 0 matches; n is checked
[ "$n" -eq "$want" ] || fail "opendkim-testmsg verified $n of $want: $(cat verify.out)"
grep -q '^verified .*/tampered.signed' verify.out && fail "opendkim-testmsg verified a changed body"
grep -q '^NOT verified .*/tampered.signed' verify.out || fail "tampered copy not checked: $(cat verify.out)"
pass "opendkim-testmsg verifies every message Sigil signed ($n) and refuses a changed one"
