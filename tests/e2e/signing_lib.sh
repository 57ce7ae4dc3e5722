# tests/e2e/signing_lib.sh — the sigild signing configuration shared by
# e2e.dkim_sign and e2e.postfix_signing (sourced after lib.sh).
# signing_config FILE LISTEN_OUT LISTEN_IN TARGET [RULE_EXTRA]: sigild
# signing for example.com with the keys $K/rsa.pem (s=rsa2026) and $K/ed.pem
# (s=ed2026): listener `out` (bank originating) on LISTEN_OUT and, unless
# LISTEN_IN is empty, `in` (not originating) on LISTEN_IN.  RULE_EXTRA is
# added to the [[signing]] rule; CRYPTO_THREADS sets [daemon] crypto_threads;
# IN_STAGES the stages of bank `in` (default "dkim-sign").
signing_config() {
  local in_listener="" in_stages=${IN_STAGES:-'"dkim-sign"'}
  if [ -n "$3" ]; then
    in_listener="[[listener]]
name = \"in\"
address = \"127.0.0.1:$3\"
bank = \"in\""
  fi
  cat >"$1" <<EOF
[daemon]
allow_root = true              # the tests run as root (CI)
log_level = "info"
drain_timeout = 5
spool_dir = "$E2E_DIR"
memory_threshold = 65536
crypto_threads = ${CRYPTO_THREADS:-2}

[smtp]
hostname = "sigil.e2e.test"

[forward]
target = "$4"
connect_timeout = 5
reply_timeout = 30

[[key]]
name = "ex-rsa"
file = "$K/rsa.pem"
domain = "example.com"
selector = "rsa2026"

[[key]]
name = "ex-ed"
file = "$K/ed.pem"
domain = "example.com"
selector = "ed2026"

[[signing]]
match = ["example.com", ".example.com"]
keys = ["ex-rsa", "ex-ed"]
${5:-}

[bank.default]
stages = []

[bank.out]
stages = ["dkim-sign"]
originating = true

[bank.in]
stages = [$in_stages]
originating = false

[[listener]]
name = "out"
address = "127.0.0.1:$2"
bank = "out"

$in_listener
EOF
}

# txt_p FILE: p= of the public key in PEM private key FILE, from openssl alone
# (RSA: the SubjectPublicKeyInfo DER; Ed25519: the bare 32-byte key).
txt_p() {
  local der="$E2E_DIR/pub.der"
  openssl pkey -in "$1" -pubout -outform DER -out "$der" 2>/dev/null || fail "openssl pkey $1"
  if openssl pkey -in "$1" -noout -text 2>/dev/null | grep -q ED25519; then
    tail -c 32 "$der" | base64 -w0
  else
    base64 -w0 <"$der"
  fi
}

# start_signing_sigild CFG OUT_PORT IN_PORT: check CFG with `sigil
# check-config`, start sigild on it (name sigild, log $E2E_DIR/sigild.log)
# and wait for both listeners.
start_signing_sigild() {
  "$SIGIL" check-config "$1" >"$E2E_DIR/check-config.out" 2>&1 ||
    fail "sigil check-config refused $1: $(cat "$E2E_DIR/check-config.out")"
  run_sigild sigild "$1" "$2"
  until_true 5 port_open "$3" || fail "sigild is not listening on $3"
}
