#!/usr/bin/env bash
# tests/interop/interop.sh — DKIM interop (label `interop`).
#
# Proves that every DKIM signature Sigil's signer makes (dkim_sign_tool, the
# command-line front of dkim/) verifies with independent verifiers:
#   dkimpy    Debian's python3-dkim (dnspython resolver as its dnsfunc)
#   mail-dkim Debian's libmail-dkim-perl (Net::DNS::Resolver)
#   opendkim  Debian's libopendkim, through opendkim_verify.cpp (the library's
#             own DNS query method: libresolv and /etc/resolv.conf)
#   sigil     Sigil's own verifier (dkim_verify_tool: dkim/verifier over
#             libopendkim, keys fetched by dns/'s resolver from the dnsmasq)
# for every fixture in messages/ x canonicalization (relaxed/relaxed,
# simple/simple, relaxed/simple, simple/relaxed) x key type (rsa-sha256 2048,
# ed25519-sha256), a dual signature (RSA + Ed25519) on every fixture, and the
# signer's options (h=, o=, i=, x=, --time) on two fixtures.  A fixture that
# already carries a third-party signature (messages/*.dns gives its key) must
# keep verifying after we sign.  It also proves the harness can fail: one body
# byte of every signed message is changed and every verifier must then report
# every signature as fail.  The signer's output contract (CRLF only, the
# signatures prepended, the message otherwise unchanged) is checked too.
#
# Fixtures (messages/, byte-exact): each behaviour in its name.  NAME.dns
# beside NAME.eml holds "DNS-NAME TXT" for the signature NAME.eml already
# carries (made once with dkimpy, c=relaxed/relaxed, t=1700000001, no x=; its
# private key was thrown away, so regenerating the fixture means a new .dns).
#
# The public keys are served by a REAL DNS server: dnsmasq on 127.0.0.1:53
# inside a private network + mount namespace this script creates for itself
# (unshare --net --mount), with a private /etc/resolv.conf ("nameserver
# 127.0.0.1") bind-mounted over the real one.  No network is used but that
# namespace's loopback.  Keys (RSA 2048, Ed25519) are generated per run.
#
#   SIGN_TOOL=build/tests/dkim/dkim_sign_tool OPENDKIM_VERIFY=build/interop_opendkim_verify \
#     bash tests/interop/interop.sh VERIFIER...     (dkimpy | mail-dkim | opendkim | all)
#   ctest -L interop --output-on-failure            (the usual way)
#   INTEROP_KEEP=1 ...                              keep the work directory
#   SIGN_TOOL="/usr/bin/python3 tests/interop/stand_in_sign.py"  checks the
#                                                   harness itself against dkimpy's signer
#
# With `sigil`, the other direction too (verification): every fixture is signed by
# dkimpy (sign_dkimpy.py; RSA and Ed25519), Mail::DKIM (sign_mail_dkim.pl;
# RSA only, Debian 12's cannot do Ed25519) and libopendkim (opendkim_sign.cpp;
# RSA and Ed25519), each in the four canonicalizations, with the same keys
# and dnsmasq; Sigil's verifier must pass every signature (the third-party
# one of the pre-signed fixture included) and fail every signature once a
# body byte is changed.
#   VERIFY_TOOL=build/dkim_verify_tool OPENDKIM_SIGN=build/interop_opendkim_sign \
#     SIGN_TOOL=build/dkim_sign_tool bash tests/interop/interop.sh sigil
#
# Documented skip: Debian 12's Mail::DKIM cannot verify Ed25519 (DESIGN.md
# §7); harness.py reports those signatures as SKIP with the verifier's own
# words, and only if the verifier says "unsupported algorithm".
# Exit 77 (skipped) only when the namespace cannot be made (not root and no
# unprivileged user namespaces).  Every process started is stopped by PID.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3   # Debian's: python3-dkim lives there, not in a pyenv
MSGDIR=$HERE/messages

skip() { echo "SKIP: $*"; exit 77; }
die() { echo "FAIL: $*" >&2; exit 1; }

VERIFIERS=()
for v in "$@"; do
  case $v in
    all) VERIFIERS+=(dkimpy mail-dkim opendkim) ;;
    dkimpy | mail-dkim | opendkim | sigil) VERIFIERS+=("$v") ;;
    *) die "unknown verifier '$v' (dkimpy, mail-dkim, opendkim, sigil, all)" ;;
  esac
done
[ ${#VERIFIERS[@]} -gt 0 ] || die "usage: interop.sh dkimpy|mail-dkim|opendkim|all ..."

# ---------------------------------------------------------------- outside
if [ -z "${INTEROP_IN_NS:-}" ]; then
  : "${SIGN_TOOL:?SIGN_TOOL must name the signer (dkim_sign_tool)}"
  read -ra sign_cmd <<<"$SIGN_TOOL"
  [ -x "${sign_cmd[0]}" ] || die "signer not executable: ${sign_cmd[0]}"
  for c in unshare ip mount dnsmasq openssl perl; do
    command -v "$c" >/dev/null || die "missing command $c (packages util-linux, iproute2, dnsmasq-base, openssl, perl)"
  done
  $PY -c 'import dkim, dns.resolver, nacl' 2>/dev/null ||
    die "$PY cannot import dkim, dns.resolver, nacl (packages python3-dkim python3-dnspython python3-nacl)"
  perl -MMail::DKIM::Verifier -MNet::DNS::Resolver -e1 2>/dev/null ||
    die "perl lacks Mail::DKIM or Net::DNS (packages libmail-dkim-perl libnet-dns-perl)"
  for v in "${VERIFIERS[@]}"; do
    if [ "$v" = opendkim ]; then
      [ -x "${OPENDKIM_VERIFY:-}" ] || die "OPENDKIM_VERIFY must name the built interop_opendkim_verify"
    fi
    if [ "$v" = sigil ]; then
      [ -x "${VERIFY_TOOL:-}" ] || die "VERIFY_TOOL must name the built dkim_verify_tool"
      [ -x "${OPENDKIM_SIGN:-}" ] || die "OPENDKIM_SIGN must name the built interop_opendkim_sign"
      perl -MMail::DKIM::Signer -e1 2>/dev/null || die "perl lacks Mail::DKIM::Signer (libmail-dkim-perl)"
    fi
  done
  # exec: the namespace's first process is this same PID, so ctest's timeout
  # signal reaches the shell whose EXIT trap stops dnsmasq.
  if [ "$(id -u)" -eq 0 ] && unshare --net --mount true 2>/dev/null; then
    exec env INTEROP_IN_NS=1 unshare --net --mount -- bash "$0" "$@"
  elif unshare --user --map-root-user --net --mount true 2>/dev/null; then
    exec env INTEROP_IN_NS=1 unshare --user --map-root-user --net --mount -- bash "$0" "$@"
  fi
  skip "cannot create a private network + mount namespace (unshare --net --mount needs root or unprivileged user namespaces; uid $(id -u)): dnsmasq must own 127.0.0.1:53 and /etc/resolv.conf must point at it"
fi

# ---------------------------------------------------------------- inside
read -ra SIGN <<<"$SIGN_TOOL"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sigil-interop.XXXXXX")
[ -n "${INTEROP_KEEP:-}" ] && echo "work dir: $WORK"
PIDS=()
RESOLV_MOUNTED=

cleanup() {
  local rc=$? p
  # Best effort: the test's verdict (rc) must survive a cleanup error.
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  [ -n "$RESOLV_MOUNTED" ] && { umount /etc/resolv.conf || true; }
  if [ $rc -ne 0 ] && [ -f "$WORK/dnsmasq.log" ]; then
    echo "--- dnsmasq.log (last 10 lines)"
    tail -n 10 "$WORK/dnsmasq.log"
  fi
  if [ -z "${INTEROP_KEEP:-}" ]; then rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

ip link set lo up

# --- keys (never group/world-readable: the signer refuses such key files)
mkdir -m 700 "$WORK/keys"
(
  umask 077
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/keys/rsa2048.pem" 2>/dev/null
  openssl genpkey -algorithm ED25519 -out "$WORK/keys/ed25519.pem" 2>/dev/null
)
chmod 600 "$WORK/keys/"*.pem
P_RSA=$(openssl pkey -in "$WORK/keys/rsa2048.pem" -pubout -outform DER | base64 -w0)
# RFC 8463: p= is the raw 32-byte Ed25519 public key, the tail of the SPKI DER.
P_ED=$(openssl pkey -in "$WORK/keys/ed25519.pem" -pubout -outform DER | tail -c 32 | base64 -w0)
[ "$(printf %s "$P_ED" | base64 -d | wc -c)" -eq 32 ] || die "bad Ed25519 public key"

DOMAIN=example.com
# key label -> key file, selector, algorithm
declare -A KEYFILE=([rsa]=$WORK/keys/rsa2048.pem [ed25519]=$WORK/keys/ed25519.pem)
declare -A SELECTOR=([rsa]=rsa2048 [ed25519]=ed25519)
declare -A ALG=([rsa]=rsa-sha256 [ed25519]=ed25519-sha256)

# --- DNS: dnsmasq with the records on its command line (its conf-file lines
# are read into ~1 KiB buffers; DESIGN.md §7), each TXT split into 255-byte
# character-strings.
TXT_ARGS=()
TXT_ARGS+=("$($PY "$HERE/harness.py" txt-arg "rsa2048._domainkey.$DOMAIN" "v=DKIM1; k=rsa; p=$P_RSA")")
TXT_ARGS+=("$($PY "$HERE/harness.py" txt-arg "ed25519._domainkey.$DOMAIN" "v=DKIM1; k=ed25519; p=$P_ED")")
declare -A PRESIGNED=()   # fixture -> "d s a" of the signature it already carries
for dnsfile in "$MSGDIR"/*.dns; do
  [ -f "$dnsfile" ] || continue
  read -r name text <"$dnsfile"
  TXT_ARGS+=("$($PY "$HERE/harness.py" txt-arg "$name" "$text")")
  alg=rsa-sha256
  case $text in *"k=ed25519"*) alg=ed25519-sha256 ;; esac
  PRESIGNED[$(basename "$dnsfile" .dns)]="${name#*._domainkey.} ${name%%._domainkey.*} $alg"
done

dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
  --listen-address=127.0.0.1 --bind-interfaces --port=53 --user=root --group= --pid-file= \
  --local=/example.com/ --local=/example.net/ --local=/example.org/ \
  --log-queries --log-facility="$WORK/dnsmasq.log" "${TXT_ARGS[@]}" \
  >"$WORK/dnsmasq.out" 2>&1 &
PIDS+=($!)
DNSMASQ_PID=$!

ready=
for _ in $(seq 50); do
  kill -0 "$DNSMASQ_PID" 2>/dev/null || { cat "$WORK/dnsmasq.out"; die "dnsmasq exited"; }
  if $PY "$HERE/harness.py" dns-txt "ed25519._domainkey.$DOMAIN" 127.0.0.1 >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.1
done
[ -n "$ready" ] || die "dnsmasq does not answer on 127.0.0.1:53"

# The system resolver (opendkim's libresolv) must ask our dnsmasq.
printf 'nameserver 127.0.0.1\noptions timeout:2 attempts:2\n' >"$WORK/resolv.conf"
mount --bind "$WORK/resolv.conf" /etc/resolv.conf
RESOLV_MOUNTED=1
answer=$($PY "$HERE/harness.py" dns-txt "rsa2048._domainkey.$DOMAIN") ||
  die "no answer through /etc/resolv.conf"
[ "${answer#*$'\t'}" = "v=DKIM1; k=rsa; p=$P_RSA" ] || die "DNS gives a wrong RSA record: $answer"
echo "ok: DNS: dnsmasq on 127.0.0.1:53, named by /etc/resolv.conf, serves the keys" \
  "(RSA record in ${answer%%$'\t'*} strings)"

# --- sign the corpus
SIGNED=$WORK/signed
mkdir "$SIGNED"
MANIFEST=$WORK/manifest.tsv
: >"$MANIFEST"
: >"$WORK/jobs.tsv"
SIGN_FAILURES=0
NSIGNED=0

# sign CASE OUT FIXTURE TIME KEYLABEL:OPTS... — runs the signer and records
# the output for the contract check and its expected signatures in the
# manifest.
sign() {
  local case=$1 out=$2 fixture=$3 when=$4
  shift 4
  local args=() specs=() spec label opts
  [ -n "$when" ] && args+=(--time "$when")
  for spec in "$@"; do
    label=${spec%%:*}
    opts=${spec#*:}
    spec="key=${KEYFILE[$label]},d=$DOMAIN,s=${SELECTOR[$label]}${opts:+,$opts}"
    args+=(--sig "$spec")
    specs+=("$label")
  done
  local rc=0
  "${SIGN[@]}" "${args[@]}" <"$fixture" >"$out" 2>"$out.err" || rc=$?
  if [ $rc -ne 0 ]; then
    echo "SIGNER FAIL $case: exit $rc; command: dkim_sign_tool ${args[*]} < $(basename "$fixture")"
    sed 's/^/    stderr: /' "$out.err"
    SIGN_FAILURES=$((SIGN_FAILURES + 1))
    rm -f "$out"
    return 0
  fi
  printf '%s\t%s\t%s\t%s\n' "$fixture" "$out" "${#specs[@]}" "$case" >>"$WORK/jobs.tsv"
  NSIGNED=$((NSIGNED + 1))
  for label in "${specs[@]}"; do
    printf '%s\t%s\t%s\t%s\t%s\tpass\n' "$out" "$case" "$DOMAIN" "${SELECTOR[$label]}" "${ALG[$label]}" >>"$MANIFEST"
  done
  local base
  base=$(basename "$fixture" .eml)
  if [ -n "${PRESIGNED[$base]:-}" ]; then
    read -r d s a <<<"${PRESIGNED[$base]}"
    printf '%s\t%s\t%s\t%s\t%s\tpass\n' "$out" "$case (third-party signature)" "$d" "$s" "$a" >>"$MANIFEST"
  fi
}

CANONS=(relaxed/relaxed simple/simple relaxed/simple simple/relaxed)
NOW=$(date +%s)
for fixture in "$MSGDIR"/*.eml; do
  base=$(basename "$fixture" .eml)
  for key in rsa ed25519; do
    for c in "${CANONS[@]}"; do
      sign "$base ${ALG[$key]} c=$c" "$SIGNED/$base.$key.${c/\//-}.eml" "$fixture" "" "$key:c=$c"
    done
  done
  sign "$base dual rsa-sha256 c=relaxed/simple + ed25519-sha256 c=relaxed/relaxed" \
    "$SIGNED/$base.dual.eml" "$fixture" "" "rsa:c=relaxed/simple" "ed25519:c=relaxed/relaxed"
done
# Signer options, on a plain and a folded-header message.
OPTION_CASES=(
  "|h=From:To:Subject"
  "|o=From:Subject"
  "|i=@example.com"
  "$NOW|x=3600"
  "1700000000|"
  "$NOW|c=simple/simple,h=From:To:Subject:Date,o=From:Subject,i=@example.com,x=86400"
)
for base in plain_lf folded_headers_trailing_ws; do
  n=0
  for oc in "${OPTION_CASES[@]}"; do
    n=$((n + 1))
    when=${oc%%|*}
    opts=${oc#*|}
    for key in rsa ed25519; do
      sign "$base ${ALG[$key]} ${when:+--time $when }${opts:-(default options)}" \
        "$SIGNED/$base.$key.opt$n.eml" "$MSGDIR/$base.eml" "$when" "$key:$opts"
    done
  done
done
echo "ok: signed $NSIGNED messages ($(wc -l <"$MANIFEST") signatures expected to pass)"
$PY "$HERE/harness.py" contract "$WORK/jobs.tsv" || SIGN_FAILURES=$((SIGN_FAILURES + 1))

# --- the negative control: one body byte changed, every signature must fail
TAMPERED=$WORK/tampered
mkdir "$TAMPERED"
mapfile -t FILES < <(cut -f1 "$MANIFEST" | sort -u)
[ ${#FILES[@]} -gt 0 ] || die "nothing was signed"
$PY "$HERE/harness.py" tamper "$TAMPERED" "${FILES[@]}"
awk -F'\t' -v dir="$TAMPERED" 'BEGIN { OFS = "\t" } {
  n = split($1, p, "/"); $1 = dir "/" p[n]; $2 = "tampered body: " $2; $6 = "fail"; print
}' "$MANIFEST" >"$WORK/manifest.tampered.tsv"
cat "$WORK/manifest.tampered.tsv" >>"$MANIFEST"
mapfile -t FILES < <(cut -f1 "$MANIFEST" | sort -u)

# --- verify
VERIFY_FAILURES=0
for v in "${VERIFIERS[@]}"; do
  case $v in
    dkimpy) cmd=("$PY" "$HERE/verify_dkimpy.py") ;;
    mail-dkim) cmd=(perl "$HERE/verify_mail_dkim.pl") ;;
    opendkim) cmd=("$OPENDKIM_VERIFY") ;;
    sigil) cmd=("$VERIFY_TOOL" --dns 127.0.0.1:53 --tsv) ;;
  esac
  start=$EPOCHREALTIME
  if ! "${cmd[@]}" "${FILES[@]}" >"$WORK/results.$v.tsv" 2>"$WORK/results.$v.err"; then
    echo "FAIL $v: the verifier itself failed:"
    tail -n 20 "$WORK/results.$v.err"
    VERIFY_FAILURES=$((VERIFY_FAILURES + 1))
    continue
  fi
  awk -v v="$v" -v n=${#FILES[@]} -v a="$start" -v b="$EPOCHREALTIME" \
    'BEGIN { printf "   (%s: %d files verified in %.1f s)\n", v, n, b - a }'
  $PY "$HERE/harness.py" check "$v" "$MANIFEST" "$WORK/results.$v.tsv" ||
    VERIFY_FAILURES=$((VERIFY_FAILURES + 1))
done

# --- the other direction: foreign signers, Sigil's verifier
want_sigil=
for v in "${VERIFIERS[@]}"; do [ "$v" = sigil ] && want_sigil=1; done
if [ -n "$want_sigil" ]; then
  FOREIGN=$WORK/foreign
  mkdir "$FOREIGN"
  FMANIFEST=$WORK/manifest.foreign.tsv
  : >"$FMANIFEST"
  : >"$WORK/jobs.dkimpy.tsv"
  : >"$WORK/jobs.mail-dkim.tsv"
  : >"$WORK/jobs.opendkim.tsv"
  # job SIGNER FIXTURE KEYLABEL CANON — one signature to make, and its
  # expectation (plus the fixture's own third-party signature, if any).
  job() {
    local signer=$1 fixture=$2 key=$3 c=$4 base out
    base=$(basename "$fixture" .eml)
    out=$FOREIGN/$base.$signer.$key.${c/\//-}.eml
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$fixture" "$out" "${KEYFILE[$key]}" "$DOMAIN" \
      "${SELECTOR[$key]}" "${ALG[$key]}" "$c" >>"$WORK/jobs.$signer.tsv"
    printf '%s\t%s\t%s\t%s\t%s\tpass\n' "$out" "signed by $signer: $base ${ALG[$key]} c=$c" \
      "$DOMAIN" "${SELECTOR[$key]}" "${ALG[$key]}" >>"$FMANIFEST"
    if [ -n "${PRESIGNED[$base]:-}" ]; then
      read -r d s a <<<"${PRESIGNED[$base]}"
      printf '%s\t%s\t%s\t%s\t%s\tpass\n' "$out" "signed by $signer: $base (third-party signature)" \
        "$d" "$s" "$a" >>"$FMANIFEST"
    fi
  }
  for fixture in "$MSGDIR"/*.eml; do
    for c in "${CANONS[@]}"; do
      job dkimpy "$fixture" rsa "$c"
      job dkimpy "$fixture" ed25519 "$c"
      job mail-dkim "$fixture" rsa "$c"
      job opendkim "$fixture" rsa "$c"
      job opendkim "$fixture" ed25519 "$c"
    done
  done
  FOREIGN_FAILURES=0
  $PY "$HERE/sign_dkimpy.py" "$WORK/jobs.dkimpy.tsv" || { echo "FAIL: dkimpy signer"; FOREIGN_FAILURES=1; }
  perl "$HERE/sign_mail_dkim.pl" "$WORK/jobs.mail-dkim.tsv" || { echo "FAIL: Mail::DKIM signer"; FOREIGN_FAILURES=1; }
  # XXX: libopendkim leaks every Ed25519 signing key (dkim_free() releases
  # the crypto state of RSA signatures only); under ASan the test signer
  # would fail on it, so leak detection is off for that process alone.
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$OPENDKIM_SIGN" "$WORK/jobs.opendkim.tsv" ||
    { echo "FAIL: libopendkim signer"; FOREIGN_FAILURES=1; }
  echo "ok: foreign signers: $(cat "$WORK"/jobs.*.tsv | wc -l) messages signed" \
    "(dkimpy $(wc -l <"$WORK/jobs.dkimpy.tsv"), Mail::DKIM $(wc -l <"$WORK/jobs.mail-dkim.tsv")," \
    "libopendkim $(wc -l <"$WORK/jobs.opendkim.tsv"))"
  FTAMPERED=$WORK/foreign-tampered
  mkdir "$FTAMPERED"
  mapfile -t FFILES < <(cut -f1 "$FMANIFEST" | sort -u)
  $PY "$HERE/harness.py" tamper "$FTAMPERED" "${FFILES[@]}"
  awk -F'\t' -v dir="$FTAMPERED" 'BEGIN { OFS = "\t" } {
    n = split($1, p, "/"); $1 = dir "/" p[n]; $2 = "tampered body: " $2; $6 = "fail"; print
  }' "$FMANIFEST" >"$WORK/manifest.foreign.tampered.tsv"
  cat "$WORK/manifest.foreign.tampered.tsv" >>"$FMANIFEST"
  mapfile -t FFILES < <(cut -f1 "$FMANIFEST" | sort -u)
  start=$EPOCHREALTIME
  if ! "$VERIFY_TOOL" --dns 127.0.0.1:53 --tsv "${FFILES[@]}" >"$WORK/results.sigil-foreign.tsv" \
    2>"$WORK/results.sigil-foreign.err"; then
    echo "FAIL sigil: dkim_verify_tool itself failed on the foreign-signed messages:"
    tail -n 20 "$WORK/results.sigil-foreign.err"
    FOREIGN_FAILURES=1
  else
    awk -v n=${#FFILES[@]} -v a="$start" -v b="$EPOCHREALTIME" \
      'BEGIN { printf "   (sigil: %d foreign-signed files verified in %.1f s)\n", n, b - a }'
    $PY "$HERE/harness.py" check "sigil (foreign signers)" "$FMANIFEST" "$WORK/results.sigil-foreign.tsv" ||
      FOREIGN_FAILURES=1
  fi
  VERIFY_FAILURES=$((VERIFY_FAILURES + FOREIGN_FAILURES))
fi

if [ "$SIGN_FAILURES" -ne 0 ] || [ "$VERIFY_FAILURES" -ne 0 ]; then
  die "$SIGN_FAILURES signer failure(s), $VERIFY_FAILURES verifier(s) with mismatches"
fi
echo "ok: interop ${VERIFIERS[*]}: all signatures pass, all tampered copies fail"
