#!/bin/sh
# The accuracy table of README.md: top-1 on the digits held-out set (360
# samples) of the float model and of each post-training quantization
# scheme, calibrated on examples/digits/calib_x.npy (256 training samples,
# never the held-out ones). A benchmark, not a test: it prints a Markdown
# table. Usage: bench/digits_quant.sh [build-dir]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
dyad=$build/bin/dyad
ex=$here/examples/digits
row() {
  label=$1
  shift
  out=$("$dyad" report "$ex/digits.dy" --calib "$ex/calib_x.npy" \
    --data "$ex/heldout_x.npy" --labels "$ex/heldout_y.npy" "$@" 2>/dev/null)
  acc=$(echo "$out" | sed -n 's/^top-1 accuracy: float \([0-9.]*\), fake-quant \([0-9.]*\), integer \([0-9.]*\)$/\1 \2 \3/p')
  agree=$(echo "$out" | sed -n 's/^top-1 agreement: fake-quant with float \([0-9]*\)\/.*integer with fake-quant \([0-9]*\)\/.*/\1 \2/p')
  worst=$(echo "$out" | sed -n '3p' | awk '$1 != "top-1" {print $1 " " $2 " dB"}')
  [ -n "$worst" ] || worst="- (none quantized statically)"
  set -- $acc $agree
  echo "$1 $2 $3 $4 $5" | awk -v l="$label" -v w="$(echo "$worst" | cut -d' ' -f2-)" \
    '{printf "| %s | %.2f | %.2f | %.2f | %s/360 | %s/360 | %s |\n", l, $1*100, $2*100, $3*100, $4, $5, w}'
}
echo "| scheme | float top-1 % | fake-quant top-1 % | integer top-1 % | fake-quant = float | integer = fake-quant | worst tensor SQNR |"
echo "|---|---|---|---|---|---|---|"
row "int8 per-channel, symmetric narrow weights (TFLite default)"
row "int8 per-channel, asymmetric weights" --weight-symmetric=0
row "int8 per-tensor weights" --granularity=per-tensor
row "int8 per-tensor, asymmetric weights" --granularity=per-tensor --weight-symmetric=0
row "int8, symmetric activations" --act-symmetric=1
row "int8, unsigned (u8) activations" --act-signed=0
row "observer minmax" --observer=minmax
row "observer moving-average" --observer=moving-average
row "observer percentile 99.99" --observer=percentile
row "observer entropy (KL)" --observer=entropy
row "observer mse" --observer=mse
row "int4 weights per-group(32)" --weight-bits=4 --granularity=per-group --group-size=32
row "int2 weights per-group(32)" --weight-bits=2 --granularity=per-group --group-size=32
row "int2 weights per-group(32), asymmetric" --weight-bits=2 --granularity=per-group --weight-symmetric=0
row "int4 weights per-channel, asymmetric" --weight-bits=4 --weight-symmetric=0
row "16-bit activations, int8 weights" --act-bits=16
row "stochastic weight rounding (seed 1)" --weight-rounding=stochastic --seed=1
row "rounding tflite-single" --rounding=tflite-single
row "rounding tosa-single" --rounding=tosa-single
row "rounding float (not integer-only)" --rounding=float
row "dynamic activations (u8, per run)" --activations=dynamic
