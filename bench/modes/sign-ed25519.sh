# bench/modes/sign-ed25519.sh — sourced by bench/run once $WORK exists: the
# Ed25519 key that sign-ed25519.toml names (bench/lib.sh gen_key).
# shellcheck shell=bash
gen_key ed25519 "$WORK/keys/ed25519.pem"
