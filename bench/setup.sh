#!/usr/bin/env bash
# Install the benchmark anchors (bcftools, tabix/bgzip) from Debian. Needs root.
# Idempotent: does nothing when both are already on PATH.
set -euo pipefail
if command -v bcftools >/dev/null && command -v tabix >/dev/null && command -v bgzip >/dev/null; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends bcftools tabix
