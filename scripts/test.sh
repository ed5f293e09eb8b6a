#!/usr/bin/env bash
# Installs what is missing, then builds and runs every test twice: the debug preset
# (AddressSanitizer + UBSan, warnings as errors) and the release preset (optimised, plus the
# test that builds an application against the installed package).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
for preset in debug release; do
  cmake --preset "$preset"
  cmake --build --preset "$preset"
  ctest --preset "$preset" "$@"
done
