# scripts/lib.sh — shared by scripts/run, scripts/test, scripts/fuzz and bench/run.
# Installs missing Debian packages (idempotent: a second run checks with
# dpkg-query and installs nothing) and builds with CMake + Ninja.
set -euo pipefail

SIGIL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# ensure_packages FILE...: installs every package named in the files that is missing.
ensure_packages() {
  local want=() missing=() p
  for f in "$@"; do
    [ -f "$f" ] || continue
    while read -r p; do
      p=${p%%#*}; p=${p//[[:space:]]/}
      [ -n "$p" ] && want+=("$p")
    done < "$f"
  done
  for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "== installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix asks questions on install; answer them (no system mail config).
  echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
  echo "postfix postfix/mailname string sigil.test" | $sudo debconf-set-selections
  if ! $sudo apt-get install -y --no-install-recommends "${missing[@]}"; then
    $sudo apt-get update
    $sudo apt-get install -y --no-install-recommends "${missing[@]}"
  fi
}

# build DIR TYPE [cmake args...]: configures once, then builds incrementally;
# every target, or only $SIGIL_BUILD_TARGET when set.
build() {
  local dir=$1 type=$2
  shift 2
  if [ ! -f "$dir/build.ninja" ]; then
    cmake -S "$SIGIL_ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" "$@"
  else
    cmake "$dir" -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null
  fi
  cmake --build "$dir" -j "$(nproc)" ${SIGIL_BUILD_TARGET:+--target "$SIGIL_BUILD_TARGET"}
}
