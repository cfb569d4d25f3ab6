#!/usr/bin/env bash
# Runs `dyad run` on every held-out digits sample and compares the argmax of
# dyad's outputs with a reference (torch's or ONNX Runtime's outputs, N x 10):
#
#   bench/digits_agreement.sh MODEL REF.npy [options] [-- DYAD-RUN-ARGS...]
#
#   MODEL  examples/digits/digits.dy, digits.onnx or digits_qdq.onnx
#   REF    examples/digits/heldout_torch.npy (torch, float model),
#          examples/digits/heldout_torch_qdq.npy (torch, quantized model), or
#          an output of bench/ort/digits_ort.mjs (ONNX Runtime)
#
# options:
#   --dyad PATH      the dyad binary (default: build/bin/dyad)
#   --layout L       nchw or nhwc: the layout of the per-sample input files
#                    (default: nchw, 1x1x8x8, for .onnx models, whose inputs keep
#                    their NCHW layout; nhwc, 1x8x8x1, otherwise)
#   --input NAME     the graph input's name (default: image)
#   --min PCT        exit 1 if the agreement is below PCT percent
#   --keep DIR       work in DIR (kept) instead of a temporary directory
#   -- ARGS          passed on to `dyad run` (e.g. -- --layout=nhwc)
#
# Prints, e.g.:
#   top-1: 349/360 (96.94%)
#   agreement: 360/360 (100.00%)
#   max |diff|: 1.2e-07
# Run by hand (not in CI); needs numpy under /usr/bin/python3 (or $PYTHON).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
examples="$root/examples/digits"
python="${PYTHON:-/usr/bin/python3}"
dyad="$root/build/bin/dyad"
layout=""
input="image"
min=""
keep=""
extra=()

usage() {
  sed -n '2,/^# Run by hand/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

pos=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dyad) dyad="$2"; shift 2 ;;
    --layout) layout="$2"; shift 2 ;;
    --input) input="$2"; shift 2 ;;
    --min) min="$2"; shift 2 ;;
    --keep) keep="$2"; shift 2 ;;
    -h|--help) usage ;;
    --) shift; extra=("$@"); break ;;
    -*) echo "digits_agreement: unknown option $1" >&2; usage ;;
    *) pos+=("$1"); shift ;;
  esac
done
[ ${#pos[@]} -eq 2 ] || usage
model="${pos[0]}"
ref="${pos[1]}"
[ -f "$model" ] || { echo "digits_agreement: no model $model" >&2; exit 2; }
[ -f "$ref" ] || { echo "digits_agreement: no reference $ref" >&2; exit 2; }
[ -x "$dyad" ] || { echo "digits_agreement: no dyad at $dyad (build first, or --dyad)" >&2; exit 2; }
if [ -z "$layout" ]; then
  case "$model" in *.onnx) layout=nchw ;; *) layout=nhwc ;; esac
fi
case "$layout" in nchw|nhwc) ;; *) echo "digits_agreement: --layout must be nchw or nhwc" >&2; exit 2 ;; esac

if [ -n "$keep" ]; then
  work="$keep"
  mkdir -p "$work"
else
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi

# One input file per held-out sample.
n="$("$python" - "$examples/heldout_x.npy" "$work" "$layout" <<'EOF'
import sys
import numpy as np
x = np.load(sys.argv[1])  # N,8,8,1 float32
assert x.ndim == 4 and x.shape[1:] == (8, 8, 1) and x.dtype == np.float32, x.shape
for i in range(len(x)):
    s = x[i:i + 1]
    if sys.argv[3] == "nchw":
        s = s.transpose(0, 3, 1, 2)
    np.save(f"{sys.argv[2]}/x{i}.npy", np.ascontiguousarray(s))
print(len(x))
EOF
)"

echo "model: $model ($layout inputs), reference: $ref, $n samples"
for ((i = 0; i < n; i++)); do
  rm -rf "$work/out$i"
  if ! "$dyad" run "$model" --input "$input=$work/x$i.npy" --output-dir "$work/out$i" \
      ${extra[@]+"${extra[@]}"} >"$work/log$i" 2>&1; then
    echo "digits_agreement: dyad run failed on sample $i:" >&2
    head -c 4000 "$work/log$i" >&2
    exit 1
  fi
done

"$python" - "$work" "$n" "$ref" "$examples/heldout_y.npy" "${min:-0}" <<'EOF'
import glob
import sys
import numpy as np
work, n, ref, labels, minpct = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
outs = []
for i in range(n):
    files = sorted(glob.glob(f"{work}/out{i}/*.npy"))
    if len(files) != 1:
        sys.exit(f"digits_agreement: sample {i}: expected one output .npy, found {len(files)}")
    outs.append(np.load(files[0]).reshape(-1))
got = np.stack(outs)
r = np.load(ref)
y = np.load(labels)
if r.shape != got.shape:
    sys.exit(f"digits_agreement: reference shape {r.shape} != dyad's {got.shape}")
np.save(f"{work}/dyad.npy", got.astype(np.float32))
top1 = int((got.argmax(1) == y).sum())
agree = int((got.argmax(1) == r.argmax(1)).sum())
print(f"top-1: {top1}/{n} ({100 * top1 / n:.2f}%)")
print(f"agreement: {agree}/{n} ({100 * agree / n:.2f}%)")
print(f"max |diff|: {np.abs(got.astype(np.float64) - r).max():.2g}")
bad = np.nonzero(got.argmax(1) != r.argmax(1))[0]
if len(bad):
    print("disagreeing samples:", " ".join(map(str, bad[:20])) + (" ..." if len(bad) > 20 else ""))
if 100 * agree / n < minpct:
    print(f"digits_agreement: agreement below {minpct}%", file=sys.stderr)
    sys.exit(1)
EOF
