#!/usr/bin/env bash
# Installs everything Berth needs on a fresh Debian machine (run as root):
# Debian packages for the real components we run and test against, npm
# packages (which also builds the native addon), then the TypeScript build.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(
  runc                        # the OCI runtime our shim drives
  containerd                  # ctr, containerd and containerd-shim-runc-v2 for interop tests and benchmarks
  protobuf-compiler libprotobuf-dev  # protoc and the well-known types, to check generated code
  busybox-static              # test and demo images are built from it, offline
  iproute2                    # ip netns for network tests
  containernetworking-plugins # CNI plugins for pod networking
  iptables                    # the CNI portmap plugin programs it
  docker-registry             # a local OCI registry for pull/push tests
  criu                        # runc checkpoint, for CRI CheckpointContainer
  python3 make g++            # node-gyp
)
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi
[[ -f build/Release/berth_native.node ]] || npm run --silent install

echo "setup: building"
npm run --silent build
bash scripts/go-tools.sh >/dev/null || [[ $? == 3 ]] # stock crictl and critest (3: no Go, outside CI)
