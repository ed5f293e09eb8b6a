#!/usr/bin/env bash
# Builds the libFuzzer targets (the fuzz preset: clang-16, ASan + UBSan) and runs each for
# SECONDS (default 30) over a scratch copy of its seed corpus in fuzz/corpus/, so that what
# a run finds never grows the committed corpus. Exits non-zero when any target crashes,
# leaks, hangs (-timeout) or breaks a property, naming the input that did. docs/FUZZING.md.
#   scripts/fuzz.sh [SECONDS]            every target
#   scripts/fuzz.sh SECONDS cron ...     only these
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true

# Each target with the longest input worth trying: a timestamp or a duration is one short
# field, a cron line three, a config or a script a page; outbound.db files are a few pages.
declare -A max_len=([timestamp]=64 [duration]=64 [cron]=256 [settings]=4096 [fake_agent_script]=2048
  [outbound]=65536 [pass_memo]=8192 [control]=4096)
targets=("$@")
((${#targets[@]})) || targets=(timestamp duration cron settings fake_agent_script outbound pass_memo control)

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz

runs=build/fuzz/runs
rm -rf "$runs"
mkdir -p "$runs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# clang-16's runtime looks for llvm-symbolizer beside clang; Debian may ship only another version.
if [[ -z ${ASAN_SYMBOLIZER_PATH:-} ]] && symbolizer=$(command -v llvm-symbolizer-16 || command -v llvm-symbolizer); then
  export ASAN_SYMBOLIZER_PATH=$symbolizer
fi
failed=()
for t in "${targets[@]}"; do
  [[ -n ${max_len[$t]:-} ]] || { echo "fuzz: no target $t" >&2; exit 2; }
  dir=$runs/$t
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp fuzz/corpus/"$t"/* "$dir/corpus/"
  dict=()
  [[ -f fuzz/dict/$t.dict ]] && dict=(-dict="fuzz/dict/$t.dict")
  echo "fuzz: $t for ${seconds}s (log $dir/log)"
  if build/fuzz/fuzz/fuzz_"$t" "$dir/corpus" "${dict[@]}" -max_total_time="$seconds" -max_len="${max_len[$t]}" \
       -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/artifacts/" >"$dir/log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' "$dir/log" | sed "s/^/fuzz: $t /"
  else
    failed+=("$t")
    tail -n 40 "$dir/log" >&2
    for a in "$dir"/artifacts/*; do [[ -e $a ]] && echo "fuzz: $t: crash input $a" >&2; done
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: every target ran ${seconds}s without a finding"
