#!/usr/bin/env bash
# The README's first command: set up everything, start berthd on its embedded
# default configuration and show it working with the berth CLI and ctr.
# The daemon keeps running afterwards; stop it with: kill $(cat /run/berth/berthd.pid)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

BERTHD="node dist/cmd/berthd.js"
BERTH="node dist/cmd/berth.js"
SOCK=/run/berth/berth.sock
LOG=/var/log/berthd.log

if [[ -S $SOCK ]] && $BERTH version >/dev/null 2>&1; then
  echo "berthd is already running on $SOCK"
else
  mkdir -p /run/berth
  echo "starting berthd (log: $LOG)"
  setsid $BERTHD >>"$LOG" 2>&1 < /dev/null &
  echo $! > /run/berth/berthd.pid
  for _ in $(seq 100); do
    $BERTH version >/dev/null 2>&1 && break
    sleep 0.1
  done
fi

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
step $BERTH version
step $BERTH plugins ls
step $BERTH namespaces create demo env=demo
step $BERTH namespaces ls
if [[ -x scripts/demo-run.sh ]]; then
  bash scripts/demo-run.sh
fi
step $BERTH -n demo containers ls
if command -v ctr >/dev/null; then
  step ctr -a $SOCK version
  step ctr -a $SOCK -n demo containers ls
fi
echo
echo "berthd is running (pid $(cat /run/berth/berthd.pid 2>/dev/null || echo '?'), socket $SOCK)."
echo "Try: node dist/cmd/berth.js events    # then create a namespace in another shell"
