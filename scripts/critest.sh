#!/usr/bin/env bash
# Runs stock critest (cri-tools' CRI validation suite) against berthd.
#
# Everything lives in a private network namespace (plus private IPC and UTS
# namespaces, so host-IPC and host-network specs touch nothing of the
# machine's): a docker-registry on 127.0.0.1 serving stand-ins for every image
# critest pulls (test/critest/stand-in-images.ts), and a berthd with its own
# root, state, socket, CNI bridge and a hosts.toml per upstream registry
# pointing at that registry. Specs that need the upstream images themselves
# are skipped by name (test/critest/exceptions.ts, docs/cri.md). Prints critest's
# pass/fail/skip counts; exits non-zero when any other spec fails. Whatever it
# started is stopped by PID, and mounts, cgroups, the namespace and the
# directory are removed, also on failure or interruption.
#
#   bash scripts/critest.sh [--parallel N] [--drop-infra-ctr true|false] [-- extra critest flags]
#
# --drop-infra-ctr sets the CRI option of that name (default true: pods whose
# containers do not share a PID namespace run without a pause container);
# false gives every pod one.
#
# BERTH_CRITEST_KEEP=1 keeps the work directory (logs) for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ${1:-} == --inside ]]; then
  # ---- inside the namespaces: registry, berthd, critest -------------------
  work=$2
  shift 2
  critest_args=("$@")
  sock=$work/berth.sock
  pids=()
  cgroups_before=$(ls -d /sys/fs/cgroup/*/k8s.io /sys/fs/cgroup/k8s.io 2>/dev/null || true)

  stop_pid() { # SIGTERM, then SIGKILL after $2 seconds
    local pid=$1 grace=${2:-10}
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < grace * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || return 0
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  }
  inner_cleanup() {
    local rc=$?
    set +e
    if [[ -S $sock ]]; then
      # Through the CRI first: pods, their netns, CNI allocations and mounts.
      timeout 300 "$CRICTL" --runtime-endpoint "unix://$sock" rmp --all --force >/dev/null 2>&1
    fi
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_pid "${pids[i]}"; done
    # Shims (and their containers) still around belong to this berthd: they name its socket.
    for p in $(pgrep -f -- "$work/" || true); do
      [[ $p == "$$" ]] || kill -KILL "$p" 2>/dev/null
    done
    # Leftover container cgroups of this run (ids from berthd's records).
    for id in $(ls "$work/root/io.berth.grpc.v1.cri/containers" "$work/root/io.berth.grpc.v1.cri/sandboxes" 2>/dev/null | sed -n 's/^\([0-9a-f]\{64\}\)\(\.json\)\?$/\1/p'); do
      for cg in /sys/fs/cgroup/*/k8s.io/"$id" /sys/fs/cgroup/k8s.io/"$id"; do
        [[ -d $cg ]] || continue
        xargs -r kill -KILL <"$cg/cgroup.procs" 2>/dev/null
        rmdir "$cg" 2>/dev/null
      done
    done
    # The k8s.io parents this run created, when nothing else uses them now.
    for cg in /sys/fs/cgroup/*/k8s.io /sys/fs/cgroup/k8s.io; do
      [[ -d $cg ]] && ! grep -qxF "$cg" <<<"$cgroups_before" && rmdir "$cg" 2>/dev/null
    done
    # Mounts made in this mount namespace under the work directory, deepest first.
    awk -v w="$work" '$5 == w || index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo |
      sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    exit "$rc"
  }
  trap inner_cleanup EXIT
  trap 'exit 130' INT TERM

  ip link set lo up

  echo "== critest: local registry with the stand-in images"
  port=5000
  cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
EOF
  /usr/bin/docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
  pids+=($!)
  for ((i = 0; i < 300; i++)); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null && break
    kill -0 "${pids[-1]}" 2>/dev/null || {
      cat "$work/registry.log" >&2
      exit 1
    }
    sleep 0.1
  done
  node dist/test/critest/seed-registry.js "127.0.0.1:$port" "$work/certs.d" >"$work/seed.log"

  echo "== critest: berthd"
  mkdir -p "$work/net.d"
  cat >"$work/net.d/10-critest.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "critest",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "critest0",
      "isGateway": true,
      "ipMasq": false,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "10.88.0.0/16" }]], "dataDir": "$work/ipam" }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  cat >"$work/config.toml" <<EOF
version = 1
[plugins."io.berth.grpc.v1.cri"]
sandbox_image = "registry.k8s.io/pause:3.9"
registry_config_path = "$work/certs.d"
drop_infra_ctr = ${BERTH_CRITEST_DROP_INFRA:-true}
[plugins."io.berth.grpc.v1.cri".cni]
conf_dir = "$work/net.d"
bin_dirs = ["/usr/lib/cni"]
EOF
  node dist/berthd.cjs --root "$work/root" --state "$work/state" --address "$sock" \
    --config "$work/config.toml" >"$work/berthd.log" 2>&1 &
  pids+=($!)
  for ((i = 0; i < 300; i++)); do
    "$CRICTL" --runtime-endpoint "unix://$sock" version >/dev/null 2>&1 && break
    kill -0 "${pids[-1]}" 2>/dev/null || {
      tail -n 50 "$work/berthd.log" >&2
      exit 1
    }
    sleep 0.1
  done

  echo "== critest: $(basename "$(dirname "$CRITEST")")"
  skip=$(node dist/test/critest/exceptions.js --skip-regex)
  mkdir -p "$work/tmp"
  set +e
  # critest's temporary files (mount propagation sources, log dirs) stay under $work.
  TMPDIR=$work/tmp PATH=$(dirname "$GINKGO"):$PATH "$CRITEST" \
    --runtime-endpoint "unix://$sock" --image-endpoint "unix://$sock" \
    "-ginkgo.skip=$skip" -ginkgo.no-color \
    "--ginkgo.json-report=$work/report.json" "${critest_args[@]}" >"$work/critest.log" 2>&1
  status=$?
  set -e
  node dist/test/critest/exceptions.js --summarize "$work/report.json" || status=1
  ((status == 0)) || tail -n 20 "$work/critest.log"
  exit "$status"
fi

# ---- outside: tools, the namespace, cleanup ---------------------------------
tools=$(bash scripts/go-tools.sh) || {
  status=$?
  if ((status == 3)); then # no Go, outside CI
    echo "critest: skipped: Go is not installed, so crictl and critest cannot be built"
    exit 0
  fi
  echo "critest: crictl and critest could not be installed" >&2
  exit 1
}
eval "$(sed -n 's/^\(crictl\|critest\|ginkgo\)=\(.*\)$/export \U\1\E="\2"/p' <<<"$tools")"

parallel=1
extra=()
while (($#)); do
  case $1 in
  --parallel)
    parallel=$2
    shift 2
    ;;
  --drop-infra-ctr)
    [[ $2 == true || $2 == false ]] || {
      echo "critest: --drop-infra-ctr takes true or false" >&2
      exit 2
    }
    export BERTH_CRITEST_DROP_INFRA=$2
    shift 2
    ;;
  --)
    shift
    extra=("$@")
    break
    ;;
  *)
    echo "usage: $0 [--parallel N] [--drop-infra-ctr true|false] [-- critest flags]" >&2
    exit 2
    ;;
  esac
done

[[ -f dist/test/critest/seed-registry.js && -f dist/berthd.cjs ]] || {
  echo "critest: dist/ is missing: run npm run build first" >&2
  exit 1
}

# critest runs specs serially unless asked; ginkgo refuses -parallel=1.
parallel_args=()
((parallel > 1)) && parallel_args=("-parallel=$parallel")

work=$(mktemp -d /tmp/berth-critest.XXXXXX)
ns=berth-critest-$$-${work##*.}
cleanup() {
  local rc=$?
  set +e
  # Anything still running from this run (the inner cleanup normally stopped it all).
  for p in $(pgrep -f -- "$work/" || true); do kill -KILL "$p" 2>/dev/null; done
  ip netns del "$ns" 2>/dev/null
  if [[ ${BERTH_CRITEST_KEEP:-} == 1 ]]; then
    echo "critest: kept $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$ns"

echo "== critest against berthd (namespace $ns, parallel $parallel, drop_infra_ctr ${BERTH_CRITEST_DROP_INFRA:-true})"
t0=$SECONDS
set +e
# nsenter rather than `ip netns exec`, which mounts a fresh /sys and so hides
# the cgroup hierarchies runc needs. The private mount namespace takes every
# mount of the run with it when the last process of the run exits.
nsenter --net="/run/netns/$ns" unshare --mount --propagation slave --ipc --uts -- \
  bash scripts/critest.sh --inside "$work" "${parallel_args[@]}" "${extra[@]}"
status=$?
set -e
echo "== critest: $((SECONDS - t0)) s"
exit "$status"
