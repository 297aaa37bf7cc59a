#!/usr/bin/env bash
# Builds the benchmarks' second anchor, containerd 2.x (`containerd` and
# `containerd-shim-runc-v2` of module github.com/containerd/containerd/v2),
# from the Go module proxy: the newest 2.x release it lists, or PINNED when the
# listing fails. They go to ${BERTH_TOOLS_CACHE:-$HOME/.cache/berth/tools}/
# containerd-<version>/ and a cached version is not built again;
# `containerd2-current` links to the one in use. Benchmarks print a containerd
# 2.x column when it is there, beside Debian's containerd 1.6.
# Go builds only this benchmark anchor; the product stays TypeScript.
set -euo pipefail

MODULE=github.com/containerd/containerd/v2
PINNED=v2.4.2
CACHE=${BERTH_TOOLS_CACHE:-$HOME/.cache/berth/tools}

if ! command -v go >/dev/null; then
  echo "bench-tools: go is not installed; benchmarks run without containerd 2.x" >&2
  exit 3
fi

version=$(go list -m -versions "$MODULE" 2>/dev/null |
  tr ' ' '\n' | grep -E '^v2\.[0-9]+\.[0-9]+$' | sort -V | tail -n 1 || true)
if [[ -z $version ]]; then
  echo "bench-tools: the module proxy did not list $MODULE; using $PINNED" >&2
  version=$PINNED
fi

dir=$CACHE/containerd-$version
if [[ ! -x $dir/containerd || ! -x $dir/containerd-shim-runc-v2 ]]; then
  echo "bench-tools: building containerd $version into $dir (a few minutes, once)" >&2
  mkdir -p "$CACHE"
  tmp=$(mktemp -d "$CACHE/.build-XXXXXX")
  chmod 755 "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  GOBIN=$tmp GOFLAGS=-mod=mod go install \
    "$MODULE/cmd/containerd@$version" "$MODULE/cmd/containerd-shim-runc-v2@$version" >&2
  rm -rf "$dir"
  mv "$tmp" "$dir"
  trap - EXIT
fi
ln -sfn "containerd-$version" "$CACHE/containerd2-current"
echo "containerd=$dir/containerd"
echo "shim=$dir/containerd-shim-runc-v2"
