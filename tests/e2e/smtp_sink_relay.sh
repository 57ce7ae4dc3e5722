#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.smtp_sink_relay — smtp-source → sigild → smtp-sink (Postfix's own test
# peers), on loopback ports chosen at run time.
#
# Asserts, for each front/back-end combination:
#   1. SMTP front, smtp:[127.0.0.1]:P back-end: 200 messages over 4 parallel
#      sessions all arrive exactly once (dump count and distinct Message-Ids),
#      with envelope and body intact and sigild's EHLO name as the sink's
#      client (so they went through sigild); sigild logs exactly one summary
#      line per message, each action=relayed, each with its own log id.
#   2. LMTP front (smtp-source -L, 3 recipients per message): each of 20
#      messages arrives once with its 3 recipients; one summary line each.
#   3. SMTP front, lmtp:unix:/path back-end (smtp-sink -L on a Unix socket),
#      2 recipients per message.
#   4. SMTP front, maildir:DIR back-end.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

read -r P_SIGIL P_SINK P_SIGIL2 P_SIGIL3 <<<"$(free_ports 4)"

# files_with DIR ERE: the files in DIR with a line matching ERE.
files_with() { grep -lE -- "$2" "$1"/* 2>/dev/null || true; }

# ---------------------------------------------------------------- 1. SMTP → SMTP
run_sink sink "$P_SINK"
sigil_config "$E2E_DIR/sigil.toml" "$P_SIGIL" "smtp:[127.0.0.1]:$P_SINK"
run_sigild sigild "$E2E_DIR/sigil.toml" "$P_SIGIL"
log="$E2E_DIR/sigild.log"

N=200
"$SMTP_SOURCE" -s 4 -m "$N" -f from@example.com -t to@example.net "127.0.0.1:$P_SIGIL" \
  >"$E2E_DIR/source1.log" 2>&1 || fail "smtp-source (SMTP) failed: it aborts on any unexpected reply"

dumps_reach sink "$N" 20 || fail "sink got $(dumps sink) of $N messages"
sleep 0.5  # room for a duplicate to show up
got=$(dumps sink)
[ "$got" -eq "$N" ] || fail "sink got $got messages, want exactly $N"
distinct=$(header_values sink Message-Id | uniq | wc -l)
[ "$distinct" -eq "$N" ] || fail "sink got $distinct distinct Message-Ids, want $N"
pass "$N messages delivered exactly once (SMTP front, SMTP back-end)"

bad=0
for f in "$E2E_DIR"/sink/*; do
  grep -q '^X-Mail-Args: <from@example.com>' "$f" || bad=$((bad + 1))
  grep -q '^X-Rcpt-Args: <to@example.net>' "$f" || bad=$((bad + 1))
  grep -q '^X-Helo-Args: sigil.e2e.test$' "$f" || bad=$((bad + 1))
  grep -q '^La de da de da 4\.$' "$f" || bad=$((bad + 1))
done
[ "$bad" -eq 0 ] || fail "$bad envelope/EHLO/body mismatches in the sink dumps"
pass "envelope, EHLO name and body intact"

until_true 5 at_least "$N" summaries "$log" || true  # the exact count is checked below
n_sum=$(summaries "$log")
n_rel=$(summaries "$log" ' action=relayed backend="250 ')
[ "$n_sum" -eq "$N" ] || fail "sigild logged $n_sum summary lines, want $N"
[ "$n_rel" -eq "$N" ] || fail "sigild logged $n_rel action=relayed lines with a 250, want $N"
n_ids=$({ grep -oE ' msg: id=[0-9A-Z]{12} ' "$log" || true; } | sort -u | wc -l)
[ "$n_ids" -eq "$N" ] || fail "summary lines carry $n_ids distinct log ids, want $N"
pass "one summary line per message ($N, all relayed, distinct ids)"

# ---------------------------------------------------------------- 2. LMTP front
NL=20
"$SMTP_SOURCE" -L -s 2 -m "$NL" -r 3 -f lfrom@example.com -t lto@example.net "127.0.0.1:$P_SIGIL" \
  >"$E2E_DIR/source2.log" 2>&1 || fail "smtp-source -L failed"
dumps_reach sink $((N + NL)) 20 || fail "sink got $(($(dumps sink) - N)) of $NL LMTP-front messages"
sleep 0.3
lfiles=$(files_with "$E2E_DIR/sink" '^X-Mail-Args: <lfrom@example.com>')
got=$(printf '%s\n' "$lfiles" | grep -c . || true)
[ "$got" -eq "$NL" ] || fail "LMTP front: sink got $got messages, want $NL"
[ "$(dumps sink)" -eq $((N + NL)) ] || fail "sink holds $(dumps sink), want $((N + NL))"
bad=0
for f in $lfiles; do
  [ "$(grep -c '^X-Rcpt-Args: <[0-9]*lto@example.net>' "$f")" -eq 3 ] || bad=$((bad + 1))
done
[ "$bad" -eq 0 ] || fail "LMTP front: $bad messages without their 3 recipients"
n_l=$(summaries "$log" 'from=<lfrom@example.com> rcpts=3 .* action=relayed')
[ "$n_l" -eq "$NL" ] || fail "LMTP front: $n_l summary lines (rcpts=3, relayed), want $NL"
[ "$(summaries "$log")" -eq $((N + NL)) ] || fail "summary lines: $(summaries "$log"), want $((N + NL))"
pass "LMTP front: $NL messages x 3 recipients, one summary line each"

# ---------------------------------------------------------------- 3. LMTP back-end, Unix socket
SOCK="$E2E_DIR/lmtp.sock"
mkdir -p "$E2E_DIR/lsink"
chmod 0777 "$E2E_DIR/lsink"
user=()
if [ "$(id -u)" -eq 0 ]; then user=(-u nobody); fi
spawn lsink "$SMTP_SINK" "${user[@]}" -L -d "$E2E_DIR/lsink/msg." "unix:$SOCK" 16
until_true 10 test -S "$SOCK" || fail "LMTP smtp-sink did not create $SOCK"
sigil_config "$E2E_DIR/sigil2.toml" "$P_SIGIL2" "lmtp:unix:$SOCK"
run_sigild sigild2 "$E2E_DIR/sigil2.toml" "$P_SIGIL2"
NU=10
"$SMTP_SOURCE" -s 2 -m "$NU" -r 2 -f ufrom@example.com -t uto@example.net "127.0.0.1:$P_SIGIL2" \
  >"$E2E_DIR/source3.log" 2>&1 || fail "smtp-source to the LMTP-back-end sigild failed"
dumps_reach lsink "$NU" 20 || fail "LMTP sink got $(dumps lsink) of $NU"
sleep 0.3
[ "$(dumps lsink)" -eq "$NU" ] || fail "LMTP sink got $(dumps lsink), want exactly $NU"
bad=0
for f in "$E2E_DIR"/lsink/*; do
  grep -q '^X-Client-Proto: LMTP' "$f" || bad=$((bad + 1))
  [ "$(grep -c '^X-Rcpt-Args: <[0-9]*uto@example.net>' "$f")" -eq 2 ] || bad=$((bad + 1))
done
[ "$bad" -eq 0 ] || fail "LMTP back-end: $bad protocol/recipient mismatches"
n_u=$(summaries "$E2E_DIR/sigild2.log" 'rcpts=2 .* action=relayed')
[ "$n_u" -eq "$NU" ] || fail "LMTP back-end: $n_u relayed summary lines, want $NU"
pass "lmtp:unix back-end: $NU messages, 2 recipients each"

# ---------------------------------------------------------------- 4. maildir back-end
MD="$E2E_DIR/Maildir"
sigil_config "$E2E_DIR/sigil3.toml" "$P_SIGIL3" "maildir:$MD"
run_sigild sigild3 "$E2E_DIR/sigil3.toml" "$P_SIGIL3"
NM=10
"$SMTP_SOURCE" -s 2 -m "$NM" -f mfrom@example.com -t mto@example.net "127.0.0.1:$P_SIGIL3" \
  >"$E2E_DIR/source4.log" 2>&1 || fail "smtp-source to the maildir sigild failed"
md_count() { find "$MD/new" -type f 2>/dev/null | wc -l; }
until_true 10 at_least "$NM" md_count || fail "maildir got $(md_count) of $NM"
[ "$(md_count)" -eq "$NM" ] || fail "maildir holds $(md_count) messages, want $NM"
[ "$(find "$MD/tmp" -type f 2>/dev/null | wc -l)" -eq 0 ] || fail "maildir tmp/ not empty"
with_body=$(files_with "$MD/new" '^La de da de da 4\.' | grep -c . || true)
[ "$with_body" -eq "$NM" ] || fail "$((NM - with_body)) maildir messages lack their body"
n_m=$(summaries "$E2E_DIR/sigild3.log" 'action=relayed')
[ "$n_m" -eq "$NM" ] || fail "maildir: $n_m relayed summary lines, want $NM"
pass "maildir back-end: $NM messages"
