#!/usr/bin/env bash
# e2e.systemd_notify — sigild's sd_notify messages (READY, RELOADING, STATUS,
# STOPPING, WATCHDOG) read from a datagram socket this test binds, without
# systemd; systemd_notify.py starts sigild, drives it and asserts (its
# header lists what).  This script writes the three configurations: the one
# sigild starts on, a good one for the first SIGHUP (another log level), a
# bad one for the second (an unknown key).
source "$(dirname "$0")/lib.sh"

P=$(free_port)
write_sigil_config "$E2E_DIR/sigil.toml" "$P" "maildir:$E2E_DIR/Maildir"
sed 's/^log_level = "info"/log_level = "debug"/' "$E2E_DIR/sigil.toml" >"$E2E_DIR/good.toml"
grep -q '^log_level = "debug"' "$E2E_DIR/good.toml" || fail "good.toml: log_level not changed"
sed 's/^\[smtp\]$/[smtp]\nno_such_key = 1/' "$E2E_DIR/sigil.toml" >"$E2E_DIR/bad.toml"
grep -q '^no_such_key = 1' "$E2E_DIR/bad.toml" || fail "bad.toml: no unknown key added"
python3 "$(dirname "$0")/systemd_notify.py" "$SIGILD" "$E2E_DIR/sigil.toml" \
  "$E2E_DIR/good.toml" "$E2E_DIR/bad.toml" "$P" "$E2E_DIR" || fail "systemd_notify.py"
pass "sd_notify: READY, watchdog, RELOADING/READY with STATUS, STOPPING"
