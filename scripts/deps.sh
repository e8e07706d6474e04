#!/usr/bin/env bash
# Installs what a fresh machine lacks, so that `npm start` and `npm test` work on a new clone with
# nothing installed by hand: Debian's etcd, Docker Engine, HAProxy, dig, git, busybox, thefactory's
# Marathon client (python3-marathon), curl and chromium (the dashboard tests), then node_modules.
# Cheap when everything is there already (a few `command -v` and one timestamp comparison).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)  # bench:cli's baseline
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
command -v dig >/dev/null 2>&1 || missing+=(bind9-dnsutils)
command -v git >/dev/null 2>&1 || missing+=(git)
[ -x /bin/busybox ] || missing+=(busybox-static)
/usr/bin/python3 -c 'import marathon' >/dev/null 2>&1 || missing+=(python3-marathon)  # the API tests' real Marathon client (Debian's python, not a pyenv one on PATH)
command -v curl >/dev/null 2>&1 || missing+=(curl)  # the API tests' external SSE reader
command -v chromium >/dev/null 2>&1 || missing+=(chromium)  # the dashboard tests' browser, driven by playwright-core

if [ ${#missing[@]} -gt 0 ]; then
  echo "capstan: installing Debian packages: ${missing[*]}" >&2
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "capstan: installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
