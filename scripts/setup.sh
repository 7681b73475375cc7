#!/usr/bin/env bash
# Installs what tagcache's tests need, skipping whatever is already there:
# npm packages (npm ci), redis-server, Java (WireMock), promtool + Prometheus, wrk, chromium,
# docker-compose (only to validate the compose file).
# Safe to run again; `npm test` runs it first.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
# redis-server also runs as a sentinel (`redis-server sentinel.conf --sentinel`), for the Sentinel tests.
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
# The console's browser test drives Debian's chromium through playwright-core (no browser download).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# Validates docker-compose.yml (`docker-compose config`); no Docker engine is needed for that.
{ command -v docker-compose || docker compose version; } >/dev/null 2>&1 || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${missing[*]} (apt)"
    # A mirror hiccup should not fail a whole test run: three tries, a few seconds apart.
    for try in 1 2 3; do
      if apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
        break
      fi
      [ "$try" = 3 ] && { echo "setup: apt-get could not install ${missing[*]}" >&2; exit 1; }
      sleep 5
    done
  else
    echo "setup: missing ${missing[*]}; install them (Debian/Ubuntu: sudo apt-get install ${missing[*]})" >&2
  fi
fi

node scripts/ensure-deps.mjs
