#!/usr/bin/env bash
# Installs what is missing, then builds and runs every test twice: the debug preset
# (AddressSanitizer + UBSan, warnings as errors) and the release preset (optimised, plus the
# test that builds an application against the installed package), then every libFuzzer target
# for HOSTSWEEP_FUZZ_SECONDS each (default 30; scripts/fuzz.sh, docs/FUZZING.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
for preset in debug release; do
  cmake --preset "$preset"
  cmake --build --preset "$preset"
  ctest --preset "$preset" "$@"
done
scripts/fuzz.sh "${HOSTSWEEP_FUZZ_SECONDS:-30}"
