#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.backend_421 — a back-end that answers 421 and hangs up (smtp-sink -Q,
# at RCPT and at the end-of-data dot) must not make sigild tell its *front*
# client "421 ... closing connection" while it keeps the front channel open.
#
# RFC 5321 §3.8 and §4.2.2: 421 means the server is closing the transmission
# channel.  The back-end's channel closed, not the front's, so the front should
# get a plain 4xx (451 4.4.x, the message is tempfailed and retried), or, if
# sigild does relay 421, it must then close the front connection.
#
# Asserts, for -Q RCPT and -Q . over SMTP: the front gets a 4xx carrying the
# log id; the summary line says action=tempfail; and a 421 is never followed
# by a working session (NOOP answered 250).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

for q in RCPT .; do
  take_ports PS PK
  run_sink "sink$PK" "$PK" -Q "$q"
  sigil_config "$E2E_DIR/s$PK.toml" "$PS" "smtp:[127.0.0.1]:$PK"
  run_sigild "sigild$PK" "$E2E_DIR/s$PK.toml" "$PS"
  out="$E2E_DIR/client$PK.out"
  # The client may see the connection close (that is one of the allowed
  # outcomes); every reply it got is checked below.
  smtp_py "$PS" greet ehlo front.example msg a@example.com b@example.net q421 cmd NOOP >"$out" 2>&1 || true
  r=$(reply_of "$out" msg)
  [[ "$r" =~ ^4[0-9][0-9]\ 4\.[0-9]+\.[0-9]+\ [0-9A-Z]{12}\  ]] ||
    fail "back-end 421 at '$q': front got '$r', want a 4xx with the log id"
  until_true 5 log_has "$E2E_DIR/sigild$PK.log" ' action=tempfail ' || fail "no tempfail summary line"
  noop=$(reply_of "$out" cmd)
  if [[ "$r" =~ ^421\  ]] && [[ "$noop" =~ ^250 ]]; then
    fail "back-end 421 at '$q': sigild answered the front '$r' but kept the front connection open (NOOP got '$noop'). A back-end 421 should reach the front as 451 4.4.x, or sigild must close the front connection after its own 421."
  fi
  pass "back-end 421 at '$q': front got '$r'; NOOP after it: '${noop:-none}'"
  pv="sigild${PK}_PID"; forget "${!pv}"
  pv="sink${PK}_PID"; forget "${!pv}"
done
