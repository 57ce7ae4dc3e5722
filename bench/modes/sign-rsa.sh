# bench/modes/sign-rsa.sh — sourced by bench/run once $WORK exists: the
# RSA-2048 key that sign-rsa.toml names (bench/lib.sh gen_key).
# shellcheck shell=bash
gen_key rsa "$WORK/keys/rsa.pem"
