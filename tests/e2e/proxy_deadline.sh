#!/usr/bin/env bash
# shellcheck disable=SC2154  # NAME_PID variables are set by spawn (printf -v)
# e2e.proxy_deadline — a proxy listener answers its front within the MTA's
# proxy timeout even when the after-filter smtpd is slow (docs/postfix.md "Before-queue
# proxy"): the stages' budget and the back-end's replies together must fit in
# peer_timeout (Postfix's smtpd_proxy_timeout), less a 2 s margin.
#
# The slow back-end is a real smtp-sink that waits before answering DATA
# (-w 5).  With peer_timeout = 3 s the proxy has 1 s for it:
#   * proxy listener: the front gets 451 4.4.2 with the log id (not the 250
#     the sink gives 5 s later), the summary line says action=tempfail, and
#     the sink captured nothing (the connection was dropped before any data);
#   * an after-queue listener of the same sigild, same sink: no such cut
#     (forward.reply_timeout rules), the front gets 250 and the sink holds the
#     message once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"

take_ports PS PA PK
run_sink slow "$PK" -w 5
cfg="$E2E_DIR/sigild.toml"
sigil_config "$cfg" "$PS" "smtp:[127.0.0.1]:$PK"
# The first listener becomes the proxy; a second one, after-queue, on PA.
python3 - "$cfg" "$PA" <<'PY'
import sys
path, pa = sys.argv[1], sys.argv[2]
s = open(path).read()
head = 'name = "e2e"\n'
assert head in s, "sigil_config's listener changed"
s = s.replace(head, head + 'mode = "proxy"\npeer_timeout = 3\nbudget = 1\n', 1)
s += '\n[[listener]]\nname = "aq"\naddress = "127.0.0.1:%s"\nbank = "default"\n' % pa
open(path, "w").write(s)
PY
"$SIGIL" check-config "$cfg" >"$E2E_DIR/check.out" 2>&1 || fail "config refused: $(cat "$E2E_DIR/check.out")"
run_sigild sigild "$cfg" "$PS"
log="$E2E_DIR/sigild.log"

msg="$E2E_DIR/m1.eml"
printf 'From: a@example.org\r\nTo: b@example.net\r\nSubject: proxy deadline\r\nMessage-ID: <pd1@example.org>\r\n\r\nbody\r\n' >"$msg"

# 1. proxy: the sink's 354 comes 5 s after DATA; the front is answered first.
send_msg "$PS" "$msg"
[[ "$SEND_REPLY" =~ ^451\ 4\.4\.2\  ]] ||
  fail "proxy listener, back-end slower than peer_timeout: front got '$SEND_REPLY', want 451 4.4.2 before the proxy timeout"
until_true 5 log_has "$log" " msg: id=$LAST_ID .*action=tempfail" ||
  fail "no action=tempfail summary for $LAST_ID: $(grep " msg: id=$LAST_ID " "$log")"
pass "proxy: slow after-filter smtpd → '$SEND_REPLY'"

# 2. after-queue, same sink: waits for it (reply_timeout 30 s) and delivers.
send_msg "$PA" "$msg" 250
until_true 10 dumps_ge slow 1 || fail "the after-queue message did not reach the sink"
# The proxy's abandoned transaction left nothing: exactly one message there.
sleep 1
[ "$(dumps slow)" -eq 1 ] || fail "the sink holds $(dumps slow) messages, want 1 (the after-queue one)"
pass "after-queue: the same slow sink → 250, delivered once; the proxy's attempt delivered nothing"
