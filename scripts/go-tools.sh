#!/usr/bin/env bash
# Installs Kubernetes' stock crictl and critest (module sigs.k8s.io/cri-tools)
# from the Go module proxy, plus the ginkgo runner critest -parallel needs: the
# newest cri-tools version the proxy serves, or PINNED when the listing fails.
# They go to ${BERTH_TOOLS_CACHE:-$HOME/.cache/berth/tools}/cri-tools-<version>/
# and a cached version is not built again; `cri-tools-current` links to the
# one in use. Prints `crictl=…`, `critest=…` and `ginkgo=…` paths on stdout.
# Go is used for these test tools only; the product stays TypeScript.
set -euo pipefail

MODULE=sigs.k8s.io/cri-tools
PINNED=v1.37.0 # known good with berthd; used when the proxy cannot list versions
CACHE=${BERTH_TOOLS_CACHE:-$HOME/.cache/berth/tools}

# Without Go: an error in CI, exit status 3 elsewhere (the tools' tests then skip, saying why).
if ! command -v go >/dev/null; then
  echo "go-tools: go is not installed; crictl and critest are not available" >&2
  [[ ${CI:-} == true ]] && exit 1
  exit 3
fi

# The newest release (no pre-releases) the proxy lists.
version=$(go list -m -versions "$MODULE" 2>/dev/null |
  tr ' ' '\n' | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' | sort -V | tail -n 1 || true)
if [[ -z $version ]]; then
  echo "go-tools: the module proxy did not list $MODULE; using $PINNED" >&2
  version=$PINNED
fi

dir=$CACHE/cri-tools-$version
if [[ ! -x $dir/crictl || ! -x $dir/critest || ! -x $dir/ginkgo ]]; then
  echo "go-tools: building crictl, critest and ginkgo $version into $dir" >&2
  mkdir -p "$CACHE"
  tmp=$(mktemp -d "$CACHE/.build-XXXXXX")
  chmod 755 "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  src=$(go mod download -json "$MODULE@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [[ -d $src ]] || {
    echo "go-tools: could not download $MODULE@$version" >&2
    exit 1
  }
  GOBIN=$tmp go install "$MODULE/cmd/crictl@$version" >&2
  # critest is a Go test binary; ginkgo at the version cri-tools requires runs it in parallel.
  (cd "$src" && go test -c -o "$tmp/critest" ./cmd/critest) >&2
  ginkgo=$(cd "$src" && go list -m -f '{{.Version}}' github.com/onsi/ginkgo/v2)
  GOBIN=$tmp go install "github.com/onsi/ginkgo/v2/ginkgo@$ginkgo" >&2
  rm -rf "$dir"
  mv "$tmp" "$dir"
  trap - EXIT
fi
ln -sfn "cri-tools-$version" "$CACHE/cri-tools-current"

echo "crictl=$dir/crictl"
echo "critest=$dir/critest"
echo "ginkgo=$dir/ginkgo"
