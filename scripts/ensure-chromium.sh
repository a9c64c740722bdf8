#!/usr/bin/env bash
# Makes sure Debian's chromium is installed, for `npm run test:report` (the
# HTML report rendered in a real browser via playwright-core). Playwright's own
# browser download needs a network CI does not have; apt's package works.
# Idempotent: installs nothing when the browser is already there. Everything
# it prints goes to stderr (stdout stays empty for callers that capture it).
# CHROMIUM_PATH names another browser binary, which is then only checked.
set -euo pipefail

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [[ ! -x "$chromium" ]]; then
  if [[ "$chromium" != /usr/bin/chromium ]]; then
    echo "ensure-chromium: CHROMIUM_PATH=$chromium is not an executable; not installing anything" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null; then
    echo "ensure-chromium: no apt-get here; install Chromium and set CHROMIUM_PATH" >&2
    exit 1
  fi
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo -n); fi
  echo "ensure-chromium: installing Debian's chromium" >&2
  # A fresh runner may have no package lists yet; update once, only when installing.
  "${sudo[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium >&2
fi

# Proves it starts, without a network or a display.
"$chromium" --headless --no-sandbox --disable-gpu --version >&2
