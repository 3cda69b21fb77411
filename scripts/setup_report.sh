#!/usr/bin/env bash
# setup_report.sh: installs what `curvscope report` and its browser test need.
#
#   report/vendor/   vega, vega-lite, vega-embed (npm, pinned), whose minified builds the
#                    meson build embeds into the binary (report/gen_assets.py)
#   tests/browser/   playwright-core (npm, pinned), driving Debian's chromium headless
#   /usr/bin/chromium  Debian's package, for tests/e2e_report.sh (only with --browser, or
#                    when run as root and CURVSCOPE_SKIP_BROWSER is unset)
#
# Idempotent: a second run with everything in place does nothing and exits 0.
# Usage: scripts/setup_report.sh [--no-browser]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VEGA=5.33.1
VEGA_LITE=5.23.0
VEGA_EMBED=6.29.0
PLAYWRIGHT=1.56.1
want_browser=1
[ "${1:-}" = "--no-browser" ] && want_browser=0
[ -n "${CURVSCOPE_SKIP_BROWSER:-}" ] && want_browser=0

need() { command -v "$1" >/dev/null 2>&1; }

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup_report: please install Debian packages: $*" >&2
    return 1
  fi
  if [ ! -f /var/lib/apt/periodic/update-success-stamp ] && [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ]; then
    apt-get update -q
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" || {
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"; }
}

if ! need npm || ! need node; then
  apt_install nodejs npm
fi

# --- charting library, embedded into the binary at build time ------------------------------
vendor="$root/report/vendor"
stamp="$vendor/.installed-$VEGA-$VEGA_LITE-$VEGA_EMBED"
if [ ! -f "$stamp" ] || [ ! -s "$vendor/vega.min.js" ] || [ ! -s "$vendor/vega-lite.min.js" ] \
   || [ ! -s "$vendor/vega-embed.min.js" ]; then
  mkdir -p "$vendor"
  npm install --prefix "$vendor" --no-audit --no-fund --no-save --loglevel=error \
    "vega@$VEGA" "vega-lite@$VEGA_LITE" "vega-embed@$VEGA_EMBED"
  nm="$vendor/node_modules"
  cp "$nm/vega/build/vega.min.js" "$vendor/vega.min.js"
  cp "$nm/vega-lite/build/vega-lite.min.js" "$vendor/vega-lite.min.js"
  cp "$nm/vega-embed/build/vega-embed.min.js" "$vendor/vega-embed.min.js"
  for p in vega vega-lite vega-embed; do
    cp "$nm/$p/LICENSE" "$vendor/LICENSE.$p" 2>/dev/null || true
  done
  rm -f "$vendor"/.installed-*
  touch "$stamp"
  echo "setup_report: vega $VEGA, vega-lite $VEGA_LITE, vega-embed $VEGA_EMBED in report/vendor"
fi

# --- headless browser test ----------------------------------------------------------------
if [ "$want_browser" -eq 1 ]; then
  if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium || echo "setup_report: chromium missing; tests/e2e_report.sh will skip" >&2
  fi
  browser="$root/tests/browser"
  if [ ! -f "$browser/node_modules/playwright-core/package.json" ] \
     || ! grep -q "\"version\": \"$PLAYWRIGHT\"" "$browser/node_modules/playwright-core/package.json"; then
    npm install --prefix "$browser" --no-audit --no-fund --no-save --loglevel=error \
      "playwright-core@$PLAYWRIGHT"
    echo "setup_report: playwright-core $PLAYWRIGHT in tests/browser"
  fi
fi
exit 0
