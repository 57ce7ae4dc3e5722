#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.key_rotation — key rotation that cannot break mail: `sigil keys rotate`,
# sigild's key watch against a real DNS server (dnsmasq on a loopback port,
# [dns] servers pointing at it, key_check_interval = 1), `sigil keys status`,
# and every signature checked with dkimpy (python3-dkim) against the records
# dnsmasq serves.
#
# Asserts:
#   1. `sigil keys rotate --key ex` writes DOMAIN.SELECTOR.pem (mode 0600)
#      next to the current key, edits the config (comments kept, successor
#      named, new [[key]] block), which `sigil check-config` accepts, and
#      prints the new record; the config keeps its mode.
#   2. Reloaded, before any record of the new key exists: the old selector
#      signs and verifies; `keys status` says ex signs and waits for its
#      successor, the successor is unpublished and "waiting for DNS";
#      sigil_dkim_keys_unpublished = 1.
#   3. dnsmasq restarted publishing ANOTHER key's p= at the new selector: the
#      watch logs the MISMATCH, the old selector still signs (after several
#      check intervals) and verifies; no switch counted; keys status says
#      matching no.
#   4. dnsmasq restarted with the right record: sigild logs "dkim key ex now
#      signs with ex-SEL", sigil_dkim_key_switches_total{key="ex"} = 1,
#      unpublished = 0; the next message carries s=SEL and verifies with
#      dkimpy; keys status says ex is "replaced by ex-SEL", which "signs for
#      ex".  sigil_dkim_key_age_seconds has a series for each key.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

PY=/usr/bin/python3
"$PY" -c 'import dkim' 2>/dev/null || fail "$PY cannot import dkim (package python3-dkim)"
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || fail "dnsmasq not installed (package dnsmasq-base)"

take_ports P_OUT P_SINK DNS PM
K="$E2E_DIR/keys"
mkdir -m 0700 "$K"
CFG="$E2E_DIR/sigil.toml"
LOG="$E2E_DIR/sigild.log"

# The strings of a zone-file record, comma-joined for dnsmasq's command line.
strings_of() { grep -o '"[^"]*"' "$1" | tr -d '"' | paste -sd, -; }
# The record's text, strings concatenated (for dkimpy's dnsfunc).
text_of() { grep -o '"[^"]*"' "$1" | tr -d '"\n'; }

"$SIGIL" keys generate --selector s2025 --domain example.com --out "$K/example.com.s2025.pem" \
  >"$E2E_DIR/old.zone" 2>/dev/null || fail "keys generate (old key)"
"$SIGIL" keys generate --selector spare --domain example.com --out "$K/spare.pem" \
  >"$E2E_DIR/spare.zone" 2>/dev/null || fail "keys generate (spare key)"

# dnsmasq_with TXT-RECORD...: (re)start dnsmasq on $DNS serving the old
# key's record and the given --txt-record values.
dnsmasq_with() {
  if [ -n "${dnsmasq_PID:-}" ]; then forget "$dnsmasq_PID" TERM; fi
  spawn dnsmasq "$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --port="$DNS" \
    --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts --local=/#/ \
    --local-ttl=0 --user=root --pid-file="$E2E_DIR/dnsmasq.pid" \
    "--txt-record=s2025._domainkey.example.com,$(strings_of "$E2E_DIR/old.zone")" "$@"
  until_true 10 dns_answers "$DNS" s2025._domainkey.example.com || fail "dnsmasq does not answer on $DNS"
}
dnsmasq_with

# relay_lib's minimal relay (listener "e2e", bank default), its bank made
# the signing one, and the key sections after it.
sigil_config "$CFG" "$P_OUT" "smtp:[127.0.0.1]:$P_SINK"
sed -i 's/^stages = \[\]$/stages = ["dkim-sign"]\noriginating = true/' "$CFG"
cat >>"$CFG" <<CONF

[metrics]
address = "127.0.0.1:$PM"

# No cache: the test changes the records under the resolver.
[dns]
servers = ["127.0.0.1:$DNS"]
timeout_ms = 500
negative_ttl = 0
max_ttl = 0

[dkim_sign]
key_check_interval = 1         # seconds

# The key in use since 2025.
[[key]]
name = "ex"
file = "$K/example.com.s2025.pem"   # mode 0600
domain = "example.com"
selector = "s2025"

[[signing]]
match = ["example.com"]
keys = ["ex"]
CONF
chmod 0640 "$CFG"
cp "$CFG" "$E2E_DIR/sigil.toml.orig"
"$SIGIL" check-config "$CFG" >"$E2E_DIR/check-config.out" 2>&1 || fail "config: $(cat "$E2E_DIR/check-config.out")"
run_sink sink "$P_SINK"
run_sigild sigild "$CFG" "$P_OUT"

METRICS_PORT=$PM  # for relay_lib.sh's metric
metric_is() { [ "$(metric "${@:2}")" = "$1" ]; }

# ---------------------------------------------------------------- 1. rotate
"$SIGIL" keys rotate --key ex "$CFG" >"$E2E_DIR/rotate.out" 2>"$E2E_DIR/rotate.err" ||
  fail "keys rotate: $(cat "$E2E_DIR/rotate.err")"
cat "$E2E_DIR/rotate.out"
# No match is caught just below (grep exits 1 then).
SEL=$({ grep -oE '^s[0-9]{8}[a-z]?\._domainkey\.example\.com\.' "$E2E_DIR/rotate.out" || true; } | cut -d. -f1)
[ -n "$SEL" ] || fail "keys rotate printed no record for a dated selector: $(cat "$E2E_DIR/rotate.out")"
[ "$SEL" = "s$(date -u +%Y%m%d)" ] || fail "selector $SEL is not today's"
NEW="ex-$SEL"
NEWKEY="$K/example.com.$SEL.pem"
[ "$(stat -c %a "$NEWKEY")" = 600 ] || fail "new key file $NEWKEY mode $(stat -c %a "$NEWKEY" 2>&1)"
[ "$(stat -c %a "$CFG")" = 640 ] || fail "rotate changed the config's mode to $(stat -c %a "$CFG")"
grep -q '^# The key in use since 2025.$' "$CFG" || fail "rotate lost a comment"
grep -q '^file = ".*s2025.pem"   # mode 0600$' "$CFG" || fail "rotate lost an end-of-line comment"
grep -q "^successor = \"$NEW\"$" "$CFG" || fail "no successor line: $(cat "$CFG")"
grep -q "^name = \"$NEW\"$" "$CFG" || fail "no [[key]] block for $NEW"
# Every line of the original is still there, in order: diff shows only additions.
if diff "$E2E_DIR/sigil.toml.orig" "$CFG" | grep -q '^<'; then fail "rotate removed lines"; fi
"$SIGIL" check-config "$CFG" >"$E2E_DIR/check-config.out" 2>&1 || fail "rotated config: $(cat "$E2E_DIR/check-config.out")"
grep -q 'publish' "$E2E_DIR/rotate.out" || fail "rotate does not say what to do next"
sed -n "/^$SEL\._domainkey/p" "$E2E_DIR/rotate.out" >"$E2E_DIR/new.zone"
pass "keys rotate: $NEW ($SEL) written, config edited in place and accepted"

reloaded() { grep -c 'configuration reloaded' "$LOG" || true; }  # 0 is a count, not an error
reloads_before=$(reloaded)
kill -HUP "$sigild_PID"
until_true 10 at_least $((reloads_before + 1)) reloaded || fail "sigild did not reload: $(tail -n 5 "$LOG")"

# --------------------------------------------- verification with dkimpy
# verify.py MSG RECORDS...: RECORDS are files of "name<tab>txt" lines; prints
# "sigs=N s=SEL pass|FAIL" for the message's first DKIM-Signature.
cat >"$E2E_DIR/verify.py" <<'PYEOF'
import re, sys, dkim
dns = {}
for path in sys.argv[2:]:
    for line in open(path, "rb"):
        name, txt = line.rstrip(b"\n").split(b"\t", 1)
        dns[name.lower()] = txt
msg = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
d = dkim.DKIM(msg)
ok = d.verify(dnsfunc=lambda name, timeout=5: dns.get(name.lower().rstrip(b".")))
sel = (d.signature_fields or {}).get(b"s", b"?").decode()
n = len(re.findall(rb"(?im)^dkim-signature:", msg.split(b"\r\n\r\n", 1)[0]))
print("sigs=%d s=%s %s" % (n, sel, "pass" if ok else "FAIL"))
PYEOF
printf 's2025._domainkey.example.com\t%s\n' "$(text_of "$E2E_DIR/old.zone")" >"$E2E_DIR/old.rec"
printf '%s._domainkey.example.com\t%s\n' "$SEL" "$(text_of "$E2E_DIR/new.zone")" >"$E2E_DIR/new.rec"

# send_and_verify NAME WANT_SELECTOR: a message from example.com through
# sigild; its only signature has s=WANT_SELECTOR and verifies.
send_and_verify() {
  local name=$1 want=$2 f out
  printf 'From: <a@example.com>\r\nTo: <b@example.net>\r\nSubject: %s\r\nMessage-ID: <%s@e2e.test>\r\n\r\nbody of %s\r\n' \
    "$name" "$name" "$name" >"$E2E_DIR/$name.eml"
  SEND_FROM=a@example.com send_msg "$P_OUT" "$E2E_DIR/$name.eml" 250
  f=$(dump_of "$name")
  out=$("$PY" "$E2E_DIR/verify.py" "$f" "$E2E_DIR/old.rec" "$E2E_DIR/new.rec" 2>&1)
  [ "$out" = "sigs=1 s=$want pass" ] || fail "$name: want one signature s=$want that verifies, got: $out"
}

# status_of KEY: the line of the last `sigil keys status` for KEY.
status_of() { awk -v k="$1" '$1 == k' "$E2E_DIR/status.out"; }
keys_status() {
  "$SIGIL" keys status "$CFG" --dns "127.0.0.1:$DNS" >"$E2E_DIR/status.out" 2>&1 ||
    fail "keys status: $(cat "$E2E_DIR/status.out")"
  cat "$E2E_DIR/status.out"
}

# ------------------------------------------------- 2. not published yet
until_true 10 metric_is 1 sigil_dkim_keys_unpublished ||
  fail "unpublished: $(metric sigil_dkim_keys_unpublished), want 1"
send_and_verify before s2025
keys_status
status_of ex | grep -qE "^ex +example\.com +s2025 +yes +yes .* signs \(successor $NEW waiting for DNS\)$" ||
  fail "status of ex before publication: $(status_of ex)"
status_of "$NEW" | grep -qE " $SEL +no +no .* successor of ex, waiting for DNS$" ||
  fail "status of $NEW: $(status_of "$NEW")"
pass "before publication: s2025 signs and verifies; keys status says the successor waits for DNS"

# ------------------------------------------------- 3. a record that does not match
dnsmasq_with "--txt-record=$SEL._domainkey.example.com,$(strings_of "$E2E_DIR/spare.zone")"
until_true 15 log_has "$LOG" "dkim key $NEW: $SEL\._domainkey\.example\.com: MISMATCH" ||
  fail "no MISMATCH logged for $NEW: $(grep 'dkim key' "$LOG" | tail -n 3)"
sleep 3  # three check intervals with the wrong record published
send_and_verify mismatch s2025
if log_has "$LOG" "now signs with"; then fail "a record that does not match took over: $(grep 'now signs with' "$LOG")"; fi
[ "$(metric sigil_dkim_key_switches_total key=ex)" = absent ] ||
  fail "a switch was counted: $(metric sigil_dkim_key_switches_total key=ex)"
metric_is 1 sigil_dkim_keys_unpublished || fail "unpublished with a wrong record: $(metric sigil_dkim_keys_unpublished)"
keys_status
status_of "$NEW" | grep -qE " $SEL +yes +no .* successor of ex, waiting for DNS$" ||
  fail "status of $NEW: $(status_of "$NEW")"
grep -q "^  $NEW: MISMATCH (p= is not this private key's public key)$" "$E2E_DIR/status.out" ||
  fail "status does not say why"
pass "another key's record at $SEL never takes over: s2025 still signs"

# ------------------------------------------------- 4. the right record
dnsmasq_with "--txt-record=$SEL._domainkey.example.com,$(strings_of "$E2E_DIR/new.zone")"
until_true 15 log_has "$LOG" "dkim key ex now signs with $NEW \(s=$SEL, d=example\.com\)" ||
  fail "no switch logged: $(grep 'dkim key' "$LOG" | tail -n 3)"
metric_is 1 sigil_dkim_key_switches_total key=ex ||
  fail "switches: $(metric sigil_dkim_key_switches_total key=ex), want 1"
metric_is 0 sigil_dkim_keys_unpublished || fail "unpublished after publication: $(metric sigil_dkim_keys_unpublished)"
for k in ex "$NEW"; do
  [ "$(metric sigil_dkim_key_age_seconds key="$k")" != absent ] || fail "no key age for $k"
done
send_and_verify after "$SEL"
keys_status
status_of ex | grep -qE " s2025 +yes +yes .* replaced by $NEW$" || fail "status of ex after: $(status_of ex)"
status_of "$NEW" | grep -qE " $SEL +yes +yes +0d  signs for ex$" || fail "status of $NEW after: $(status_of "$NEW")"
pass "published and matching: sigild switched to $SEL (logged, counted), which signs and verifies"
