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
# Stock critest against berthd, both ways: pods without a pause where their
# containers do not share PIDs (the default), then a pause for every pod.
# Before vitest, so its summary ends the output.
bash scripts/critest.sh
bash scripts/critest.sh --drop-infra-ctr false
echo "== tests"
npx vitest run --reporter=default
