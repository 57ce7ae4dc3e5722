#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.sink_faults — back-end refusals and failures produced by a real
# smtp-sink (-r/-f: 4xx/5xx for a command, -Q: 421 and disconnect, -q:
# disconnect without reply, -A: 550 abort after DATA) or by no back-end at
# all, seen from the front as docs/operations.md "Replies and the two-phase commit"
# promises.
#
# For each fault, over SMTP (one recipient) and LMTP (two recipients, one
# reply each), it asserts the front's reply code and enhanced code, that the
# reply carries the message's log id, that sigild logged exactly that one
# summary line with the expected action, and whether the sink captured data.
# Then:
#   * smtp-source (no -A) stops with the back-end's 4xx/5xx in its error;
#   * back-end down → 451 4.4.1; the same sigild delivers once it is back.
# A back-end 421 (smtp-sink -Q) has its own test, e2e.backend_421.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

n_case=0
# fault CASE "SINK OPTIONS|NONE" CODE_ERE ENH_ERE ACTION DUMPS(0|1|any)
fault() {
  local name=$1 opts=$2 code_re=$3 enh_re=$4 action=$5 want_dumps=$6
  n_case=$((n_case + 1))
  local ps pk
  take_ports ps pk
  local sink="sink$n_case" sig="sigild$n_case"
  if [ "$opts" != NONE ]; then
    # shellcheck disable=SC2086  # options are words on purpose
    run_sink "$sink" "$pk" $opts
  else
    mkdir -p "$E2E_DIR/$sink"
  fi
  sigil_config "$E2E_DIR/$sig.toml" "$ps" "smtp:[127.0.0.1]:$pk"
  run_sigild "$sig" "$E2E_DIR/$sig.toml" "$ps"
  local log="$E2E_DIR/$sig.log" out="$E2E_DIR/client$n_case.out"

  # SMTP front with one recipient, then LMTP front with two (one reply each),
  # in one client run (python start-up is slow on a loaded machine).
  smtp_py "$ps" greet ehlo front.example msg a@example.com b@example.net "fault $n_case" \
    cmd NOOP quit \
    connect greet lhlo front.example mail a@example.com rcpt b@example.net rcpt c@example.net \
    data body "lfault $n_case" 2 quit >"$out" 2>&1 || fail "[$name] client failed: $(cat "$out")"
  local r code enh id
  r=$(reply_of "$out" msg)
  read -r code enh id _ <<<"$r"
  [[ "$code" =~ ^($code_re)$ ]] || fail "[$name] SMTP front got '$r', want code $code_re"
  [[ "$enh" =~ ^($enh_re)$ ]] || fail "[$name] SMTP front got '$r', want enhanced code $enh_re"
  [[ "$id" =~ ^[0-9A-Z]{12}$ ]] || fail "[$name] reply '$r' does not carry a log id"
  until_true 5 log_has "$log" " msg: id=$id " || fail "[$name] no summary line for $id"
  [ "$(summaries "$log" "id=$id .* action=$action ")" -eq 1 ] ||
    fail "[$name] summary for $id: $(grep " msg: id=$id " "$log"), want action=$action"
  [[ "$(reply_of "$out" cmd)" =~ ^250\  ]] ||
    fail "[$name] front session unusable after the fault: NOOP got '$(reply_of "$out" cmd)'"

  # LMTP: one reply per recipient, both the same fault.
  local lout=$out
  local nl
  nl=$({ grep -E "^body ($code_re) ($enh_re) [0-9A-Z]{12} <[bc]@example.net> " "$lout" || true; } | wc -l)
  [ "$nl" -eq 2 ] || fail "[$name] LMTP front: want 2 replies $code_re $enh_re, got: $(grep '^body' "$lout")"
  # LMTP logs the same action as SMTP when every recipient got the same fault.
  [ "$(summaries "$log" "rcpts=2 .* action=$action ")" -eq 1 ] ||
    fail "[$name] LMTP: no single summary line with rcpts=2 action=$action"
  [ "$(summaries "$log")" -eq 2 ] || fail "[$name] $(summaries "$log") summary lines, want 2"

  sleep 0.2
  local d
  d=$(dumps "$sink")
  case $want_dumps in
    0) [ "$d" -eq 0 ] || fail "[$name] the sink captured $d messages, want none (no data may be sent)" ;;
    any) ;;
    *) [ "$d" -eq "$want_dumps" ] || fail "[$name] the sink captured $d messages, want $want_dumps" ;;
  esac
  pass "[$name] SMTP: $code $enh (action=$action); LMTP: 2 x $code"
  local spv="${sig}_PID" kpv="${sink}_PID"
  forget "${!spv}"
  if [ -n "${!kpv:-}" ]; then forget "${!kpv}"; fi
}

# name                sink options   code    enhanced  action    dumps
fault "rcpt-4xx"      "-r RCPT"      450     4.3.0     tempfail  0
fault "rcpt-5xx"      "-f RCPT"      500     5.3.0     reject    0
fault "mail-4xx"      "-r MAIL"      450     4.3.0     tempfail  0
fault "data-4xx"      "-r DATA"      450     4.3.0     tempfail  0
fault "data-5xx"      "-f DATA"      500     5.3.0     reject    0
fault "abort-550"     "-A 0"         550     5.0.0     reject    0
# smtp-sink writes its dump before answering the dot, so it holds a copy.
fault "dot-4xx"       "-r ."         450     4.3.0     tempfail  any
fault "dot-5xx"       "-f ."         500     5.3.0     reject    any
fault "greeting-421"  "-Q CONNECT"   451     4.4.1     tempfail  0
fault "ehlo-4xx"      "-r EHLO"      451     4.4.1     tempfail  0
# Lost after the dot: outcome unknown, tempfail (a duplicate, never a loss).
fault "lost-after-dot" "-q ."        451     4.4.2     tempfail  any
fault "backend-down"  NONE           451     4.4.1     tempfail  0

# ---------------------------------------------------------------- smtp-source
take_ports PS PK
run_sink srcsink "$PK" -r RCPT
sigil_config "$E2E_DIR/src.toml" "$PS" "smtp:[127.0.0.1]:$PK"
run_sigild srcsigild "$E2E_DIR/src.toml" "$PS"
rc=0
"$SMTP_SOURCE" -m 3 -f a@example.com -t b@example.net "127.0.0.1:$PS" >"$E2E_DIR/source-4xx.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "smtp-source exited 0 although the back-end refused every RCPT with 450"
grep -qE 'rejected: 450 4\.3\.0 [0-9A-Z]{12} ' "$E2E_DIR/source-4xx.out" ||
  fail "smtp-source did not see the 450: $(cat "$E2E_DIR/source-4xx.out")"
[ "$(dumps srcsink)" -eq 0 ] || fail "the sink captured a message it refused at RCPT"
pass "smtp-source sees the back-end's 450 4.3.0"
forget "$srcsigild_PID"
forget "$srcsink_PID"

# ---------------------------------------------------------------- down, then up
take_ports PS PK
sigil_config "$E2E_DIR/updown.toml" "$PS" "smtp:[127.0.0.1]:$PK"
run_sigild updown "$E2E_DIR/updown.toml" "$PS"
smtp_py "$PS" greet ehlo front.example msg a@example.com b@example.net down quit >"$E2E_DIR/down.out" 2>&1 ||
  fail "client failed: $(cat "$E2E_DIR/down.out")"
[[ "$(reply_of "$E2E_DIR/down.out" msg)" =~ ^451\ 4\.4\.1\  ]] ||
  fail "back-end down: got '$(reply_of "$E2E_DIR/down.out" msg)', want 451 4.4.1"
log_has "$E2E_DIR/updown.log" 'action=tempfail backend="451 4.4.1 .*Connection refused' ||
  fail "no tempfail summary naming the refused connection"
run_sink upsink "$PK"
smtp_py "$PS" greet ehlo front.example msg a@example.com b@example.net up quit >"$E2E_DIR/up.out" 2>&1 ||
  fail "client failed: $(cat "$E2E_DIR/up.out")"
[[ "$(reply_of "$E2E_DIR/up.out" msg)" =~ ^250\ 2\.0\.0\  ]] ||
  fail "back-end back: got '$(reply_of "$E2E_DIR/up.out" msg)', want 250"
dumps_reach upsink 1 5 || fail "back-end back: nothing delivered"
grep -q '^Subject: up$' "$E2E_DIR"/upsink/* || fail "the sink did not get the message sent after recovery"
pass "back-end down: 451 4.4.1; back up: delivered by the same sigild"
