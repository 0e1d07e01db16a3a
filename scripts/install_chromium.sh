#!/usr/bin/env bash
# Install Debian's Chromium for the end-to-end browser test, once.
# Idempotent: does nothing when /usr/bin/chromium exists. Needs root (or sudo) and apt.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_chromium.sh: $CHROMIUM is missing and apt-get is not available;" >&2
  echo "  install Chromium with your package manager so that $CHROMIUM exists, then re-run make test." >&2
  exit 1
fi

SUDO=""
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install_chromium.sh: installing Chromium needs root; run: apt-get update && apt-get install -y chromium" >&2
    exit 1
  fi
fi

echo "Installing Debian's chromium for the end-to-end test (one time)..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
test -x "$CHROMIUM" || { echo "install_chromium.sh: apt-get finished but $CHROMIUM is still missing." >&2; exit 1; }
