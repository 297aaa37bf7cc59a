#!/usr/bin/env bash
# The README's second command: set up everything, then run every check and the
# full test suite (unit and integration, as root, with real runc and shims).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== lint and format"
npm run --silent lint
echo "== generated protobuf code is current"
npm run --silent check:proto
bash scripts/critest.sh # stock critest against berthd, before vitest so its summary ends the output
echo "== tests"
npx vitest run --reporter=default
