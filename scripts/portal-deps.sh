#!/usr/bin/env bash
# Installs what the portal's browser test needs: Debian's Chromium (the test drives the system
# browser; nothing downloads a browser of its own) and the test's two npm packages,
# playwright-core and axe-core, at the versions package-lock.json pins, into
# services/gpubill/tests/portal/node_modules. Node.js 20 or later and npm must be on PATH.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

apt_install chromium
# A machine's own Node.js and npm (often newer than Debian's) are kept when they are there.
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$major" -ge 20 ] || die "Node.js 20 or later is needed for the browser test; found $(node --version)"

dir="$ROOT/services/gpubill/tests/portal"
marker="$dir/node_modules/.installed-lock"
# npm ci only when the lockfile changed since the last install: it deletes node_modules first.
if ! cmp -s "$dir/package-lock.json" "$marker" 2>/dev/null; then
  log "installing the browser test's packages (npm ci: playwright-core, axe-core)"
  npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
  cp "$dir/package-lock.json" "$marker"
fi
