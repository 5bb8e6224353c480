#!/bin/sh
# Prints the path of a headless-capable Chromium, installing Debian's package when we are allowed to.
# Used by the report browser test (test/integration/report.test.ts); nothing in the pipeline itself needs a browser.
#
# Exit codes: 0 = path printed on stdout; 1 = no Chromium and it cannot be installed here.
# All apt-get output goes to stderr (and only on failure) so stdout carries just the path.
set -eu

find_chromium() {
  for candidate in "${CLICKSTREAM_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

if find_chromium; then exit 0; fi

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-chromium: no chromium found and not root, so it cannot be installed here." >&2
  echo "  install it yourself (e.g. sudo apt-get install chromium) or set CLICKSTREAM_CHROMIUM=/path/to/chromium" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: no chromium found and no apt-get to install it with." >&2
  echo "  install a Chromium build and set CLICKSTREAM_CHROMIUM=/path/to/chromium" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "ensure-chromium: installing chromium with apt-get (this takes a minute)..." >&2
# noninteractive: debconf must never stop to ask a question in CI or under a test runner.
if ! DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 \
  || ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >>"$log" 2>&1; then
  cat "$log" >&2
  echo "ensure-chromium: apt-get failed (output above)." >&2
  exit 1
fi

if find_chromium; then exit 0; fi
echo "ensure-chromium: apt-get succeeded but no chromium binary was found." >&2
exit 1
