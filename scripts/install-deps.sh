#!/usr/bin/env bash
# Installs the Debian packages hostsweep builds and tests with, when any is missing.
# Safe to run again: it does nothing when everything is already there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libboost1.81-dev libsqlite3-dev libsqlitecpp-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libhowardhinnant-date-dev libcli11-dev libtomlplusplus-dev
  tzdata sqlite3
  dpkg-dev  # dpkg-shlibdeps, which computes the .deb's Depends: (cmake/HostsweepPackage.cmake)
  python3  # the chaos soak (test/soak/, ctest soak.short in the release preset)
  bubblewrap  # the bwrap runtime's integration test (test/integration/bwrap_test.cpp)
  # promtool, which checks the /metrics output (test/ops/); ~19 MB, about 35 s to install.
  # The package also brings a Prometheus server unit: `systemctl disable --now prometheus`
  # on a workstation that does not want it.
  prometheus
  clang-16 libfuzzer-16-dev libclang-rt-16-dev  # the libFuzzer targets (scripts/fuzz.sh, docs/FUZZING.md)
  # node, which runs cron-parser for the cron engine's differential test (test/cron_diff/).
  # Machines that come with NodeSource's nodejs (npm included) have it installed already.
  nodejs
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

# npm: NodeSource's nodejs package brings it (and conflicts with Debian's npm package);
# Debian's own nodejs does not, and then Debian's npm is the one to install.
if ! command -v npm >/dev/null 2>&1; then
  echo "install-deps: installing npm" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends npm
fi

# cron-parser, the reference of the differential cron test, at the version that
# test/cron_diff/package-lock.json pins, into test/cron_diff/node_modules (git-ignored). Skipped
# when that exact version is there already; the test fails, saying so, when it is not.
cron_diff="$(cd "$(dirname "$0")/.." && pwd)/test/cron_diff"
want=$(node -p "require('$cron_diff/package-lock.json').packages['node_modules/cron-parser'].version")
have=$(node -p "try { require('$cron_diff/node_modules/cron-parser/package.json').version } catch { '' }")
if [ "$want" != "$have" ] || [ "$cron_diff/package-lock.json" -nt "$cron_diff/node_modules/.package-lock.json" ]; then
  echo "install-deps: npm ci in test/cron_diff (cron-parser $want)" >&2
  npm ci --prefix "$cron_diff" --no-audit --no-fund
fi
