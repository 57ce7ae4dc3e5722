#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.keys_cli — `sigil keys show` and `sigil keys test` against a real DNS
# server (dnsmasq on a loopback port).
#
# Asserts: `keys show` prints each [[key]]'s record in zone-file form, split
# into <=255-byte strings; `keys test` says ok for a key whose published p=
# matches (record served as two strings, as `keys show` prints it), MISMATCH
# for a record with another key's p=, REVOKED for an empty p=, NOT PUBLISHED
# for a name that does not exist, and exits 1 unless every key is ok; with
# only the good key configured it exits 0.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || fail "dnsmasq not installed (package dnsmasq-base)"

cd "$E2E_DIR"
for k in good bad revoked missing; do
  t=rsa; [ "$k" = bad ] && t=ed25519
  "$SIGIL" keys generate --selector "$k" --domain example.test --type "$t" --out "$k.pem" >"$k.zone" 2>/dev/null ||
    fail "keys generate $k"
done
"$SIGIL" keys generate --selector other --domain example.test --type ed25519 --out other.pem >other.zone 2>/dev/null

write_cfg() {  # write_cfg FILE KEY...
  local f=$1
  shift
  : >"$f"
  for k in "$@"; do
    printf '[[key]]\nname = "%s"\nfile = "%s/%s.pem"\ndomain = "example.test"\nselector = "%s"\n' \
      "$k" "$E2E_DIR" "$k" "$k" >>"$f"
  done
  printf '[[signing]]\nmatch = ["example.test"]\nkeys = ["%s"]\n' "$1" >>"$f"
  printf '[[listener]]\nname = "l"\naddress = "127.0.0.1:10024"\n' >>"$f"
}
write_cfg all.toml good bad revoked missing
write_cfg good.toml good

"$SIGIL" keys show all.toml >show.out || fail "keys show failed: $(cat show.out)"
for k in good bad revoked missing; do
  grep -q "^$k._domainkey.example.test. IN TXT ( \"v=DKIM1; k=" show.out || fail "keys show lacks $k: $(cat show.out)"
done
awk 'length($0) > 0 && /IN TXT/ { n = split($0, p, "\""); for (i = 2; i < n; i += 2) if (length(p[i]) > 255) exit 1 }' show.out ||
  fail "a string longer than 255 bytes in keys show"

# The strings of a zone-file record, comma-joined for dnsmasq's command line.
strings_of() { grep -o '"[^"]*"' "$1" | tr -d '"' | paste -sd, -; }
good_txt=$(strings_of good.zone)
other_txt=$(strings_of other.zone)

take_ports DNS
spawn dnsmasq "$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --port="$DNS" \
  --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts --local=/#/ \
  --user=root --pid-file="$E2E_DIR/dnsmasq.pid" \
  "--txt-record=good._domainkey.example.test,$good_txt" \
  "--txt-record=bad._domainkey.example.test,$other_txt" \
  "--txt-record=revoked._domainkey.example.test,v=DKIM1; k=rsa; p="

dns_up() { "$SIGIL" keys test good.toml --dns "127.0.0.1:$DNS" >/dev/null 2>&1; }
until_true 10 dns_up || fail "keys test never succeeded: $("$SIGIL" keys test good.toml --dns "127.0.0.1:$DNS" 2>&1)"

rc=0
"$SIGIL" keys test all.toml --dns "127.0.0.1:$DNS" >test.out 2>&1 || rc=$?
cat test.out
[ "$rc" -eq 1 ] || fail "keys test with broken keys exited $rc, want 1"
grep -q '^good good._domainkey.example.test: ok$' test.out || fail "good key not ok"
grep -q '^bad bad._domainkey.example.test: MISMATCH' test.out || fail "bad key not MISMATCH"
grep -q '^revoked revoked._domainkey.example.test: REVOKED' test.out || fail "revoked key not REVOKED"
grep -q '^missing missing._domainkey.example.test: NOT PUBLISHED' test.out || fail "missing key not NOT PUBLISHED"
"$SIGIL" keys test good.toml --dns "127.0.0.1:$DNS" >/dev/null || fail "keys test with the good key alone failed"
pass "keys show prints every record; keys test: ok, MISMATCH, REVOKED, NOT PUBLISHED and the exit codes"
