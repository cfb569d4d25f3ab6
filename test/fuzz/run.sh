#!/bin/sh
# Fuzzes the .dy parser (default), the ONNX importer or the quantization
# passes for SECONDS seconds.
#
#   test/fuzz/run.sh SECONDS [parse|onnx|passes] [libFuzzer options...]
#
# Builds build-fuzz/ (clang-22, -DDYAD_FUZZ=ON: ASan, UBSan, libFuzzer) and
# runs one fuzzing job on a fresh seed corpus:
#
#   parse  dyad-parse-fuzzer: the .dy parser, verifier and printer. Seeds:
#          every test/**/*.dy file (files with '// -----' separators also
#          split into their graphs) and test/fuzz/regressions/; dictionary
#          test/fuzz/dy.dict. Log build-fuzz/fuzz.log, crash, leak and
#          timeout inputs in build-fuzz/artifacts/.
#   onnx   dyad-onnx-fuzzer: the ONNX importer, then verify and the .dy
#          round trip of what it imports. Seeds: examples/**/*.onnx,
#          test/**/*.onnx, test/fuzz/onnx-regressions/, the text-format
#          models of test/fuzz/onnx-seeds/ (encoded with protoc-c) and,
#          when libonnx-testdata is installed, the node tests of the ops
#          the importer handles, also with their inputs 1.. made
#          initializers (test/fuzz/onnx_seeds.py); dictionary
#          test/fuzz/onnx.dict. Log build-fuzz/fuzz-onnx.log, crash, leak
#          and timeout inputs in build-fuzz/artifacts-onnx/.
#   passes dyad-passes-fuzzer: quantize, fold-scales and canonicalize on
#          every .dy graph that verifies (test/fuzz/passes_fuzzer.c); the
#          results must verify and integer-only results run. Seeds: those
#          of parse (among them the graphs of test/fuzz/passes-seeds/ and
#          test/fuzz/passes-regressions/); dictionary test/fuzz/dy.dict and
#          test/fuzz/passes.dict. Log build-fuzz/fuzz-passes.log, crash,
#          leak and timeout inputs in build-fuzz/artifacts-passes/.
#
# Environment: DYAD_FUZZ_CORPUS=DIR keeps the corpus in DIR (created and
# seeded if needed) instead of a temporary directory; JOBS=N sets the build
# parallelism (default 2).
#
# Exits non-zero when the fuzzer finds a crash, leak, timeout, out-of-memory
# or round-trip mismatch.
set -eu

if [ $# -lt 1 ]; then
  echo "usage: $0 SECONDS [parse|onnx|passes] [libFuzzer options...]" >&2
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

target=parse
case ${1:-} in
parse | onnx | passes)
  target=$1
  shift
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
elif ! grep -q "dyad-$target-fuzzer" "$build/Makefile" 2>/dev/null; then
  # configured before this fuzzer existed
  cmake "$build" >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log" >&2
    exit 1
  }
fi
cmake --build "$build" --target "dyad-$target-fuzzer" -j "${JOBS:-2}"
fuzzer=$build/bin/dyad-$target-fuzzer

if [ -n "${DYAD_FUZZ_CORPUS:-}" ]; then
  corpus=$DYAD_FUZZ_CORPUS
  mkdir -p "$corpus"
  tmp=
else
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/dyad-fuzz.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT INT TERM
  corpus=$tmp
fi

# Seeds, named by their flattened paths so nothing collides.
seed_parse() {
  # the committed test inputs, whole and split at '// -----' lines, and the
  # regression inputs
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
}

seed_onnx() {
  # the committed models (examples, test inputs, regressions) and ONNX's
  # node tests for the ops the importer handles
  find examples test -path test/fuzz -prune -o -name '*.onnx' -type f -print |
    sort | while read -r f; do
      cp "$f" "$corpus/$(printf '%s' "$f" | tr '/' '_')"
    done
  if [ -d test/fuzz/onnx-regressions ]; then
    for f in test/fuzz/onnx-regressions/*; do
      [ -f "$f" ] && cp "$f" "$corpus/regression_$(basename "$f")"
    done
  fi
  for f in test/fuzz/onnx-seeds/*.textproto; do
    [ -f "$f" ] || continue
    out=$corpus/seed_$(basename "$f" .textproto).onnx
    protoc-c --encode=onnx.ModelProto --proto_path=/usr/include/onnx \
      /usr/include/onnx/onnx.proto <"$f" >"$out"
  done
  node=/usr/share/libonnx-testdata/data/node
  if [ -d "$node" ]; then
    python3 test/fuzz/onnx_seeds.py "$corpus" "$node"
  else
    echo "$0: $node not found (libonnx-testdata): fewer seeds" >&2
  fi
}

seed_passes() {
  # the parser's seeds: every test/**/*.dy, so also the QDQ graphs of
  # test/Passes/, the calibrated and QDQ graphs of test/fuzz/passes-seeds/
  # and the reproducers of test/fuzz/passes-regressions/
  seed_parse
}

seed_"$target"
echo "seed corpus: $(find "$corpus" -type f | wc -l) files in $corpus"

if [ "$target" = parse ]; then
  dict=test/fuzz/dy.dict
  log=$build/fuzz.log
  artifacts=$build/artifacts
elif [ "$target" = passes ]; then
  # libFuzzer takes one dictionary: the .dy words and the passes' own
  dict=$build/passes-all.dict
  mkdir -p "$build"
  cat test/fuzz/dy.dict test/fuzz/passes.dict >"$dict"
  log=$build/fuzz-passes.log
  artifacts=$build/artifacts-passes
else
  dict=test/fuzz/$target.dict
  log=$build/fuzz-$target.log
  artifacts=$build/artifacts-$target
fi
mkdir -p "$artifacts"
status=0
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
  "$fuzzer" "$corpus" -dict="$dict" -max_total_time="$seconds" \
  -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "$@" >"$log" 2>&1 || status=$?

if [ "$status" -ne 0 ]; then
  tail -n 80 "$log"
  echo "$0: the fuzzer failed (exit $status); inputs in $artifacts/," \
    "log in $log" >&2
  exit "$status"
fi
grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1
grep -E '^Done [0-9]+ runs' "$log" | tail -n 1
