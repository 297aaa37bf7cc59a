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

# A root filesystem from Debian's static busybox (images come from the registry
# or `berth images import` once the images service is set up).
ROOTFS=/var/lib/berth-demo/rootfs
if [[ ! -L $ROOTFS/bin/sh || $(readlink "$ROOTFS/bin/sh") != busybox ]]; then
  rm -rf "$ROOTFS"
  mkdir -p "$ROOTFS"/{bin,proc,dev,sys,tmp,etc}
  cp /bin/busybox "$ROOTFS/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [[ -e $ROOTFS/bin/$applet ]] || ln -s busybox "$ROOTFS/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$ROOTFS/etc/passwd"
  echo 'root:x:0:' > "$ROOTFS/etc/group"
fi

# Re-runnable: what an earlier run left is removed first.
$BERTH ns ls -q | grep -qx demo || step $BERTH namespaces create demo env=demo
$B tasks rm -f sleeper >/dev/null 2>&1 || true
$B containers rm record sleeper >/dev/null 2>&1 || true

step $BERTH version
step $BERTH plugins ls
step $BERTH namespaces ls
step $B containers create --rootfs "$ROOTFS" --label app=demo record sh -c 'echo only a record'
step $B containers ls
step $B run --rm --rootfs "$ROOTFS" --hostname demo hello sh -c 'echo "hello from $(hostname): $(id)"; ls /'
step $B run -d --rootfs "$ROOTFS" sleeper sleep 3600
step $B tasks ls
step $B tasks exec --exec-id peek sleeper ps
if command -v ctr >/dev/null; then
  step ctr -a $SOCK version
  step ctr -a $SOCK -n demo tasks ls
fi
echo
echo "berthd is running (pid $(cat /run/berth/berthd.pid 2>/dev/null || echo '?'), socket $SOCK)."
echo "The container 'sleeper' keeps running: node dist/berth.cjs -n demo tasks ls"
echo "Stop it with: node dist/berth.cjs -n demo tasks rm -f sleeper"
