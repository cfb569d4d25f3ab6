#!/bin/sh
# Fuzzes the .dy parser, verifier and printer for SECONDS seconds.
#
#   test/fuzz/run.sh SECONDS [libFuzzer options...]
#
# Builds build-fuzz/ (clang-22, -DDYAD_FUZZ=ON: ASan, UBSan, libFuzzer),
# seeds a fresh corpus with every test/**/*.dy file (files with
# '// -----' separators also split into their graphs) and the inputs in
# test/fuzz/regressions/, and runs one fuzzing job with the grammar
# dictionary test/fuzz/dy.dict. Crash, leak and timeout inputs are written
# to build-fuzz/artifacts/; the full log is build-fuzz/fuzz.log.
#
# Environment: DYAD_FUZZ_CORPUS=DIR keeps the corpus in DIR (created and
# seeded if needed) instead of a temporary directory; JOBS=N sets the build
# parallelism (default 2).
#
# Exits non-zero when the fuzzer finds a crash, leak, timeout or round-trip
# mismatch.
set -eu

if [ $# -lt 1 ]; then
  echo "usage: $0 SECONDS [libFuzzer options...]" >&2
  exit 2
fi
seconds=$1
shift
case $seconds in
'' | *[!0-9]*)
  echo "$0: SECONDS must be a number, got '$seconds'" >&2
  exit 2
  ;;
esac

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

build="build-fuzz"
if [ ! -f "$build/CMakeCache.txt" ]; then
  mkdir -p "$build"
  cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang-22 \
    -DCMAKE_CXX_COMPILER=clang++-22 -DDYAD_FUZZ=ON \
    -DLLVM_DIR=/usr/lib/llvm-22/lib/cmake/llvm >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log" >&2
    exit 1
  }
fi
cmake --build "$build" --target dyad-parse-fuzzer -j "${JOBS:-2}"
fuzzer=$build/bin/dyad-parse-fuzzer

if [ -n "${DYAD_FUZZ_CORPUS:-}" ]; then
  corpus=$DYAD_FUZZ_CORPUS
  mkdir -p "$corpus"
  tmp=
else
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/dyad-fuzz.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT INT TERM
  corpus=$tmp
fi

# Seeds: the committed test inputs, whole and split at '// -----' lines, and
# the regression inputs. Names are flattened paths so nothing collides.
find test -name '*.dy' -type f | sort | while read -r f; do
  base=$(printf '%s' "$f" | tr '/' '_')
  cp "$f" "$corpus/$base"
  if grep -q '^// -----' "$f"; then
    awk -v out="$corpus/$base.split" '
      /^\/\/ -----/ { n++; next }
      { print > (out n) }' "$f"
  fi
done
if [ -d test/fuzz/regressions ]; then
  for f in test/fuzz/regressions/*; do
    [ -f "$f" ] && cp "$f" "$corpus/regression_$(basename "$f")"
  done
fi
echo "seed corpus: $(find "$corpus" -type f | wc -l) files in $corpus"

mkdir -p "$build/artifacts"
log=$build/fuzz.log
status=0
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
  "$fuzzer" "$corpus" -dict=test/fuzz/dy.dict -max_total_time="$seconds" \
  -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$build/artifacts/" "$@" >"$log" 2>&1 || status=$?

if [ "$status" -ne 0 ]; then
  tail -n 80 "$log"
  echo "$0: the fuzzer failed (exit $status); inputs in $build/artifacts/," \
    "log in $log" >&2
  exit "$status"
fi
grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1
grep -E '^Done [0-9]+ runs' "$log" | tail -n 1
