# shellcheck shell=bash
# Chromium for the browser tests (browsertest/). Source this file, then:
#
#   source .ci/chromium.sh
#   chromium_ensure                         # installs Debian's chromium with apt when missing
#   (cd browsertest && go test -count=1 ./...)
#
# The tests find the browser at $DESKIE_CHROMIUM, else /usr/bin/chromium; with CI set a
# missing browser fails them instead of skipping them. chromium_ensure returns non-zero
# with a message on stderr instead of exiting, so it behaves under `set -euo pipefail`
# and in an interactive shell alike. Run directly (bash .ci/chromium.sh) it does the same.

_chromium_say() { printf 'chromium: %s\n' "$*" >&2; }

# chromium_ensure makes sure the browser the tests use is installed.
chromium_ensure() {
  local path=${DESKIE_CHROMIUM:-/usr/bin/chromium}
  if [ -x "$path" ]; then
    _chromium_say "$("$path" --version 2>/dev/null || echo "$path")"
    return 0
  fi
  if [ -n "${DESKIE_CHROMIUM:-}" ]; then
    _chromium_say "DESKIE_CHROMIUM=$path is not an executable"
    return 1
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo="sudo -n"
    else
      _chromium_say "chromium is not installed and this user is not root: install it (apt-get install -y chromium) and run again"
      return 1
    fi
  fi
  command -v apt-get >/dev/null 2>&1 || { _chromium_say "chromium is not installed and apt-get is not available: install Chromium, or set DESKIE_CHROMIUM"; return 1; }
  _chromium_say "installing chromium with apt-get (a few minutes the first time)"
  $sudo apt-get update -qq >/dev/null &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null ||
    { _chromium_say "apt-get install chromium failed"; return 1; }
  [ -x "$path" ] || { _chromium_say "chromium was installed but $path is missing"; return 1; }
  _chromium_say "$("$path" --version 2>/dev/null || echo "$path")"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  chromium_ensure
fi
