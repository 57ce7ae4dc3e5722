# tests/e2e/postfix_lib.sh — a private Postfix instance for the e2e tests
# (sourced after lib.sh).  It runs with `postfix -c DIR`: its own main.cf,
# master.cf, queue and data directories and loopback ports, nothing in
# /etc/postfix.  The re-injection smtpd is docs/postfix.md's "Postfix after-queue
# setup" recipe.  Needs root (Postfix's master runs as root).

# pf_require: skips the test (exit 77, CTest's SKIP_RETURN_CODE) when not
# root; fails when Postfix is missing (scripts/test installs it).
pf_require() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: a private Postfix instance needs root"
    exit 77
  fi
  command -v postfix >/dev/null || fail "postfix is not installed (scripts/test installs it)"
}

# pf_mailbox_conf DIR: main.cf lines for final delivery of every address of
# example.net into one Maildir mailbox, DIR/mail/rcpt/ (virtual(8); the limit
# must be 0 when message_size_limit is set).
pf_mailbox_conf() {
  cat <<CONF
# Final delivery: every address of example.net into one Maildir mailbox.
virtual_mailbox_domains = example.net
virtual_mailbox_base = $1/mail
virtual_mailbox_maps = static:rcpt/
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(id -g nobody)
virtual_mailbox_limit = 0
CONF
}

# pf_setup DIR IN_PORT REINJECT_PORT FILTER_SERVICE MAIN_EXTRA [REINJECT_SERVICE]
#   IN_PORT: a plain smtpd on 127.0.0.1:IN_PORT; empty: none (FILTER_SERVICE
#            then brings its own smtpd entries)
#   REINJECT_PORT: docs/postfix.md's re-injection smtpd on that port; empty: none
#   FILTER_SERVICE: master.cf lines of the transport that hands mail to sigild
#   MAIN_EXTRA: main.cf lines (content_filter, final delivery, retry timing);
#               a parameter set here overrides the base (last one wins)
#   REINJECT_SERVICE: master.cf lines replacing the default re-injection
#               smtpd (e.g. the proxy recipe's after-filter smtpd)
pf_setup() {
  local dir=$1 in=$2 reinject=$3 filter=$4 extra=$5 reinject_service=${6:-}
  local in_service=""
  [ -z "$in" ] || in_service="127.0.0.1:$in inet n - n - - smtpd"
  if [ -n "$reinject" ] && [ -z "$reinject_service" ]; then
    reinject_service="127.0.0.1:$reinject inet n - n - - smtpd
  -o content_filter=
  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
  -o smtpd_helo_restrictions=
  -o smtpd_client_restrictions=
  -o smtpd_sender_restrictions=
  -o smtpd_relay_restrictions=
  -o smtpd_recipient_restrictions=permit_mynetworks,reject
  -o mynetworks=127.0.0.0/8
  -o smtpd_authorized_xforward_hosts=127.0.0.0/8"
  fi
  mkdir -p "$dir/queue" "$dir/data"
  chown postfix "$dir/data"
  cat >"$dir/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = pf.e2e.test
mydomain = e2e.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtp_dns_support_level = disabled
# No syslog here: Postfix's own log file, through the postlog service.
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
biff = no
delay_warning_time = 0
$extra
CF
  cat >"$dir/master.cf" <<CF
$in_service
$reinject_service
$filter
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
lmtp      unix  -       -       n       -       -       lmtp
virtual   unix  -       n       n       -       -       virtual
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CF
}

# pf_stop DIR: postfix stop, then the master PID from its pid file if it is
# still there (its children exit with it).  Bounded.
pf_stop() {
  local dir=$1 pid i
  # Best effort: the instance may have failed to start, or be stopped already.
  postfix -c "$dir" stop >/dev/null 2>&1 || true
  pid=$(tr -d ' \n' <"$dir/queue/pid/master.pid" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# pf_start DIR PORT...: check, start (stopped again at exit), wait for each
# smtpd PORT (empty ones skipped).
pf_start() {
  local dir=$1 port
  shift
  postfix -c "$dir" check >"$E2E_DIR/postfix-check.log" 2>&1 ||
    fail "postfix check: $(cat "$E2E_DIR/postfix-check.log")"
  E2E_CLEANUP+=("pf_stop '$dir'")
  postfix -c "$dir" start >"$E2E_DIR/postfix-start.log" 2>&1 ||
    fail "postfix start: $(cat "$E2E_DIR/postfix-start.log")"
  for port in "$@"; do
    [ -z "$port" ] || wait_port "$port"
  done
}
