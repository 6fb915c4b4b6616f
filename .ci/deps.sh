#!/usr/bin/env bash
# Installs the system packages the integration tests drive (real peers on
# loopback). Idempotent: only missing packages are installed.
set -euo pipefail
pkgs=(nginx goaccess victoria-metrics chromium chromium-driver poppler-utils collectd-core ganglia-monitor graphite-web graphite-carbon python3-whisper gunicorn python3-statsd prometheus clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ -f ui/package.json ] && [ ! -d ui/node_modules ]; then
  (cd ui && npm ci --no-audit --no-fund)
fi
