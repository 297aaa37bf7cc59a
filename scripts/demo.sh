#!/usr/bin/env bash
# The README's first command: set up everything, start berthd on its embedded
# default configuration and show it working with the berth CLI and ctr.
# The daemon keeps running afterwards; stop it with: kill $(cat /run/berth/berthd.pid)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

BERTHD="node dist/berthd.cjs"
BERTH="node dist/berth.cjs"
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
B="$BERTH -n demo"

# A busybox image built offline from Debian's busybox-static (the same
# deterministic builder the tests use), imported like any image tarball.
DEMO=/var/lib/berth-demo
IMAGE=docker.io/library/busybox:demo
mkdir -p "$DEMO"
if [[ ! -s $DEMO/busybox.tar ]]; then
  node -e "import('./dist/test/fixtures/image-builder.js').then((m) => m.buildBusyboxImage(process.argv[1], { ref: process.argv[2] }))" \
    "$DEMO/busybox.tar" "$IMAGE"
fi

# Re-runnable: what an earlier run left is removed first.
$BERTH ns ls -q | grep -qx demo || step $BERTH namespaces create demo env=demo
$B tasks rm -f sleeper >/dev/null 2>&1 || true
$B containers rm record sleeper hello >/dev/null 2>&1 || true

step $BERTH version
step $BERTH plugins ls
step $BERTH namespaces ls
step $B images import "$DEMO/busybox.tar"
step $B images ls
step $B containers create --label app=demo "$IMAGE" record sh -c 'echo only a record'
step $B containers ls
step $B run --rm --hostname demo "$IMAGE" hello sh -c 'echo "hello from $(hostname): $(id)"; cat /etc/berth-release'
step $B run -d "$IMAGE" sleeper sleep 3600
step $B tasks ls
step $B tasks exec --exec-id peek sleeper ps
step $B snapshots ls
if command -v ctr >/dev/null; then
  step ctr -a $SOCK version
  step ctr -a $SOCK -n demo tasks ls
fi
echo
echo "berthd is running (pid $(cat /run/berth/berthd.pid 2>/dev/null || echo '?'), socket $SOCK)."
echo "The container 'sleeper' keeps running: node dist/berth.cjs -n demo tasks ls"
echo "Stop it with: node dist/berth.cjs -n demo tasks rm -f sleeper"
