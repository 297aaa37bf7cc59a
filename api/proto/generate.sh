#!/usr/bin/env bash
# Regenerates api/gen/ (committed) from the .proto files under api/proto/.
#
# The .proto files restate containerd 1.6.20's wire API (same packages,
# services, methods, messages and field numbers; plain proto3, no gogo
# options) plus the ttrpc envelope, google.rpc.Status and the cgroup metrics.
# Well-known google/protobuf types come from protoc's include dir
# (/usr/include); ts-proto emits those our files import, and we name
# duration.proto explicitly so it is available although nothing imports it yet.
#
# Usage: bash api/proto/generate.sh          wipe and regenerate api/gen/
#        bash api/proto/generate.sh --check  exit 1 if api/gen/ is stale
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
proto_dir="$root/api/proto"
gen_dir="$root/api/gen"
plugin="$root/node_modules/.bin/protoc-gen-ts_proto"
wkt_include="${PROTOC_INCLUDE:-/usr/include}"

# Well-known types to emit even when no .proto of ours imports them.
extra_wkt=(google/protobuf/duration.proto)

opts=(
  esModuleInterop=true
  importSuffix=.js
  forceLong=number
  useDate=false
  outputServices=grpc-js
  outputServices=generic-definitions
  env=both # bytes fields are Uint8Array (a Buffer is one), as encode().finish() returns
  useExactTypes=false
  outputPartialMethods=false
)

for tool in protoc "$plugin"; do
  command -v "$tool" >/dev/null || { echo "generate.sh: $tool not found" >&2; exit 2; }
done
[[ -f "$wkt_include/google/protobuf/any.proto" ]] || {
  echo "generate.sh: well-known types not found under $wkt_include (install libprotobuf-dev)" >&2
  exit 2
}

generate() {
  local out="$1"
  local -a files cri_files
  # A fixed file order keeps the output byte-for-byte reproducible.
  mapfile -t files < <(cd "$proto_dir" && find . -name '*.proto' -not -path './cri/*' -printf '%P\n' | LC_ALL=C sort)
  mapfile -t cri_files < <(cd "$proto_dir" && find ./cri -name '*.proto' -printf '%P\n' | LC_ALL=C sort)
  (
    cd "$proto_dir"
    protoc \
      --plugin=protoc-gen-ts_proto="$plugin" \
      -I . -I "$wkt_include" \
      --ts_proto_out="$out" \
      --ts_proto_opt="$(IFS=,; echo "${opts[*]}")" \
      "${files[@]}" "${extra_wkt[@]}"
    # The CRI carries nanosecond timestamps in int64 fields, beyond 2^53: its
    # 64-bit integers are bigint, everything else keeps forceLong=number.
    protoc \
      --plugin=protoc-gen-ts_proto="$plugin" \
      -I . -I "$wkt_include" \
      --ts_proto_out="$out" \
      --ts_proto_opt="$(IFS=,; echo "${opts[*]/forceLong=number/forceLong=bigint}")" \
      "${cri_files[@]/#/cri/}"
  )
}

case "${1:-}" in
  --check)
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    generate "$tmp"
    if ! diff -r "$gen_dir" "$tmp" >/dev/null 2>&1; then
      diff -r "$gen_dir" "$tmp" | head -n 40 >&2 || true
      echo "api/gen is stale: run npm run gen:proto" >&2
      exit 1
    fi
    echo "api/gen is up to date"
    ;;
  "")
    rm -rf "$gen_dir"
    mkdir -p "$gen_dir"
    generate "$gen_dir"
    ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac
