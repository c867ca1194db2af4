#!/usr/bin/env bash
# Install the npm packages whose CSS, JavaScript and fonts expectations/offline.py copies
# into the Data Docs site (static/vendor/), so the docs work with no network. Exact
# versions from data-docs-assets/package-lock.json, installed with `npm ci`.
# package.json overrides popper.js so that bootstrap 4.3.1 (peer popper.js ^1.14.7) takes
# 1.12.9: the pair GE loads. Idempotent: nothing to do when node_modules is newer than the lock.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/data-docs-assets"
stamp="$dir/node_modules/.ngrl-installed"
if [[ -f "$stamp" && ! "$dir/package-lock.json" -nt "$stamp" ]]; then
  exit 0
fi
if ! command -v npm > /dev/null; then
  echo "installing Debian packages: npm"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends npm > /dev/null
fi
echo "installing the Data Docs assets (npm ci in $dir)"
npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
touch "$stamp"
