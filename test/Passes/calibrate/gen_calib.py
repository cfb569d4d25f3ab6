#!/usr/bin/python3
"""Writes the calibration data in Inputs/ and the numeric calibrate tests
(minmax.dy, moving-average.dy, percentile.dy, entropy.dy,
entropy-nvidia.dy, mse.dy) with their expected ranges. Run with Debian's
/usr/bin/python3 (numpy); the outputs are committed, so the tests need no
numpy (percentile.dy runs check_ranges.py, standard library only, with
%python).

The expected ranges are computed here without dyad: the graphs are
evaluated in numpy, and each observer is transcribed from its description
(docs/quantization.md), the entropy observer from NVIDIA
pytorch-quantization's _compute_amax_entropy (calib/histogram.py).

Data are chosen so that the expected bounds are exact in binary and the
printed text can be matched by FileCheck: values sit strictly inside
histogram bins (odd multiples of a small power of two, extremes on powers
of two), and argmin decisions (entropy, mse) are checked for a clear
margin. Where an exact answer is impossible (a percentile of 99.99, which
is not a binary fraction, on the lower tail), the test compares with a
tolerance through check_ranges.py."""
import os
from collections import Counter
from fractions import Fraction

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
inputs = os.path.join(here, "Inputs")
os.makedirs(inputs, exist_ok=True)


# --- printing -------------------------------------------------------------

def fmt(v):
    """A double as dyad prints it (docs/ir.md: shortest text that reads back
    exactly, as a float literal)."""
    v = float(v)
    if v == 0:
        v = 0.0 * (-1 if np.signbit(v) else 1)
    for prec in range(1, 18):
        s = "%.*g" % (prec, v)
        if float(s) == v:
            break
    if v != 0 and np.isfinite(v):
        e = int(np.floor(np.log10(abs(v))))
        if prec <= e < 17:
            s = "%.*g" % (e + 1, v)
    if not any(c in s for c in ".eEn"):
        s += ".0"
    return s


def dense(a):
    def rec(x):
        if x.ndim == 0:
            return repr(float(x))
        return "[" + ", ".join(rec(v) for v in x) + "]"
    return "dense<" + rec(a) + ">"


def check_range(lo, hi):
    """FileCheck text of `range = [lo, hi]`: [ is a FileCheck regex
    delimiter only when doubled, so the bracket is written literally."""
    return f"range = [{fmt(lo)}, {fmt(hi)}]"


def exact(f):
    """The double equal to the rational f; raises if there is none."""
    d = float(f)
    if Fraction(d) != f:
        raise ValueError(f"{f} is not exact in binary")
    return d


# --- the graphs, in numpy -------------------------------------------------

TY = "tensor<1x8xf32>"


def graph_text(name, w):
    return [
        f"graph @{name}(%x: {TY}) -> {TY} {{",
        f"  %w = const {dense(w)} : tensor<8x8xf32>",
        f"  %m = matmul %x, %w : {TY}",
        f"  %r = relu %m : {TY}",
        "  return %r",
        "}",
    ]


def forward(samples, w):
    """Per-sample tensors of %x, %m, %r. The data keep every product and sum
    exact in f32, so the order of summation does not matter."""
    xs = [s.astype(np.float32).reshape(1, 8) for s in samples]
    ms = [(x.astype(np.float64) @ w.astype(np.float64)) for x in xs]
    for x, m in zip(xs, ms):
        assert np.array_equal((x @ w).astype(np.float64), m), "inexact matmul"
    rs = [np.maximum(m, 0.0) for m in ms]
    return {"x": [x.astype(np.float64) for x in xs], "m": ms, "r": rs}


def check_lines(name, w, ranges, prefix="CHECK"):
    """CHECK lines for the calibrated graph: the argument attribute on %x,
    none on the constant, a range on %m and %r. (Single braces and brackets
    are literal in FileCheck patterns.)"""
    r = {k: check_range(*v) for k, v in ranges.items()}
    return [
        f"// {prefix}-LABEL: graph @{name}(%x: {TY} {{{r['x']}}}) -> {TY} {{",
        f"// {prefix}-NEXT: %w = const dense<{{{{.*}}}}> : tensor<8x8xf32>{{{{$}}}}",
        f"// {prefix}-NEXT: %m = matmul %x, %w {{{r['m']}}} : {TY}",
        f"// {prefix}-NEXT: %r = relu %m {{{r['r']}}} : {TY}",
        f"// {prefix}-NEXT: return %r",
    ]


def flat(ts):
    return np.concatenate([t.ravel() for t in ts])


# --- observers, transcribed from their descriptions -----------------------

def obs_minmax(ts):
    x = flat(ts)
    return float(np.min(x)), float(np.max(x))


def obs_moving_average(ts, c):
    """First sample's min / max, then ema += c * (cur - ema) per sample."""
    lo, hi = float(np.min(ts[0])), float(np.max(ts[0]))
    for t in ts[1:]:
        lo += c * (float(np.min(t)) - lo)
        hi += c * (float(np.max(t)) - hi)
    return lo, hi


def histogram(x, bins, lo, hi):
    """np.histogram over [lo, hi], checked against exact rational bin
    indices so that no value sits where rounding could move it."""
    h, _ = np.histogram(x, bins=bins, range=(lo, hi))
    flo, fhi = Fraction(lo), Fraction(hi)
    idx = Counter()
    for v in x:
        k = int((Fraction(float(v)) - flo) * bins // (fhi - flo))
        idx[min(k, bins - 1)] += 1
    assert all(h[k] == idx[k] for k in range(bins)), "value on a bin edge"
    return h


def obs_percentile(ts, pct, bins):
    """Histogram of `bins` bins over [min, max]; the value below which pct
    percent lies, interpolated linearly in its bin; the lower tail only when
    min < 0. Exact rational arithmetic; returns Fractions."""
    x = flat(ts)
    mn, mx = float(np.min(x)), float(np.max(x))
    h = histogram(x, bins, mn, mx)
    fmn, fmx = Fraction(mn), Fraction(mx)
    w = (fmx - fmn) / bins
    total = int(h.sum())

    def q(p):
        want = total * p / 100
        acc = 0
        for i in range(bins):
            if h[i] > 0 and acc + h[i] >= want:
                return fmn + w * (i + (want - acc) / int(h[i]))
            acc += int(h[i])
        return fmx
    pct = Fraction(pct)
    lo = q(100 - pct) if mn < 0 else fmn
    hi = q(pct) if mx > 0 else fmx
    return lo, hi, np.percentile(x, float(100 - pct)), np.percentile(x, float(pct)), float(w)


def scipy_entropy(pk, qk):
    """scipy.stats.entropy(pk, qk): KL(p || q) of the normalized arrays,
    inf where q is 0 and p is not."""
    pk = pk / pk.sum()
    qk = qk / qk.sum()
    k = pk > 0
    if np.any(qk[k] == 0):
        return np.inf
    return float(np.sum(pk[k] * np.log(pk[k] / qk[k])))


def nvidia_compute_amax_entropy(calib_hist, calib_bin_edges, num_bits,
                                unsigned, stride=1, start_bin=128):
    """pytorch_quantization/calib/histogram.py, _compute_amax_entropy."""
    bins = np.array(calib_hist, dtype=np.float64)
    bins[0] = bins[1]
    total_data = np.sum(bins)
    divergences = []
    arguments = []
    # quantizing to 128 values + sign if num_bits=8
    nbins = 1 << (num_bits - 1 + int(unsigned))
    starting = start_bin
    stop = len(bins)
    new_density_counts = np.zeros(nbins, dtype=np.float64)
    for i in range(starting, stop + 1, stride):
        new_density_counts.fill(0)
        space = np.linspace(0, i, num=nbins + 1)
        digitized_space = np.digitize(range(i), space) - 1
        digitized_space[bins[:i] == 0] = -1
        for idx, digitized in enumerate(digitized_space):
            if digitized != -1:
                new_density_counts[digitized] += bins[idx]
        counter = Counter(digitized_space)
        for key, val in counter.items():
            if key != -1:
                new_density_counts[key] = new_density_counts[key] / val
        new_density = np.zeros(i, dtype=np.float64)
        for idx, digitized in enumerate(digitized_space):
            if digitized != -1:
                new_density[idx] = new_density_counts[digitized]
        total_counts_new = np.sum(new_density) + np.sum(bins[i:])
        reference_density = np.array(bins[:len(digitized_space)])
        reference_density[-1] += np.sum(bins[i:])
        total_counts_old = np.sum(reference_density)
        assert round(total_counts_new) == total_data
        assert round(total_counts_old) == total_data
        divergences.append(scipy_entropy(reference_density, new_density))
        arguments.append(i)
    divergences = np.array(divergences)
    last_argmin = len(divergences) - 1 - np.argmin(divergences[::-1])
    calib_amax = calib_bin_edges[last_argmin * stride + starting]
    return calib_amax, arguments[last_argmin], divergences


def obs_entropy(ts, bins=2048, bits=8):
    """The |x| histogram over [0, max |x|]; unsigned (2^bits levels) when
    the tensor is never negative; range [max(min, -amax), min(max, amax)]."""
    x = flat(ts)
    mn, mx = float(np.min(x)), float(np.max(x))
    amax = max(-mn, mx)
    h = histogram(np.abs(x), bins, 0.0, amax)
    edges = np.linspace(0, amax, bins + 1)
    t, i, div = nvidia_compute_amax_entropy(h, edges, bits, mn >= 0)
    t = exact(Fraction(amax) * i / bins)
    fin = div[np.isfinite(div)]
    best = float(np.min(div))
    second = float(np.min(div[div > best])) if np.any(div > best) else np.inf
    info = (f"i={i} of {bins}, KL {best:.6g}, next best {second:.6g}, "
            f"{len(div) - len(fin)} of {len(div)} candidates infinite")
    assert second > best * (1 + 1e-6) + 1e-12, "entropy: near tie " + info
    return max(mn, -t), min(mx, t), info


def obs_mse(ts, bins=2048, bits=8):
    """Candidates a * [min(0, min), max(0, max)], a = k/100 for k = 1..100;
    expected squared error from the histogram over [min, max], each bin at
    its center: squared clipping error outside, step^2/12 inside, with
    step = (hi - lo) / (2^bits - 1)."""
    x = flat(ts)
    mn, mx = float(np.min(x)), float(np.max(x))
    h = histogram(x, bins, mn, mx)
    edges = np.linspace(mn, mx, bins + 1)
    c = (edges[:-1] + edges[1:]) / 2
    errs = []
    for k in range(1, 101):
        a = k / 100
        lo, hi = min(0.0, mn) * a, max(0.0, mx) * a
        step = (hi - lo) / (2 ** bits - 1)
        e = np.where(c < lo, (lo - c) ** 2,
                     np.where(c > hi, (c - hi) ** 2, step * step / 12))
        errs.append(float(np.sum(h * e)))
    errs = np.array(errs)
    k = int(np.argmin(errs)) + 1
    best = errs[k - 1]
    second = float(np.min(np.delete(errs, k - 1)))
    assert second > best * (1 + 1e-6), "mse: near tie"
    a = k / 100
    lo = min(0.0, mn) * a if mn < 0 else mn
    hi = max(0.0, mx) * a if mx > 0 else mx
    return lo, hi, f"a={a}, error {best:.6g}, next best {second:.6g}"


# --- data -----------------------------------------------------------------

def save(name, a):
    np.save(os.path.join(inputs, name), a)


def odd(v, unit):
    """v rounded to the nearest odd multiple of unit: strictly inside every
    histogram bin whose edges are multiples of 2 * unit."""
    return (2 * np.floor(np.asarray(v) / (2 * unit)) + 1) * unit


def write(name, lines):
    with open(os.path.join(here, name), "w") as f:
        f.write("\n".join(lines) + "\n")


# @mlp: a general 8x8 matmul of small integers; x in quarters, the samples
# on different scales so that the per-sample ranges differ.
rng = np.random.default_rng(2024)
w_mlp = rng.integers(-2, 3, size=(8, 8)).astype(np.float32)
scales = [1.0, 4.0, 0.5, 2.0, 0.25, 1.0]
mlp = np.stack([rng.integers(-8, 9, size=8) / 4 * s for s in scales])
mlp = mlp.astype(np.float32)
save("mlp.npy", mlp)
# the same samples as a directory: sorted by name a, b, c; a batch of two,
# a single f32 sample, a batch of three in f64; and a file that is not .npy
d = os.path.join(inputs, "mlp-dir")
os.makedirs(d, exist_ok=True)
np.save(os.path.join(d, "c.npy"), mlp[3:].astype(np.float64))
np.save(os.path.join(d, "a.npy"), mlp[:2])
np.save(os.path.join(d, "b.npy"), mlp[2:3])
with open(os.path.join(d, "notes.txt"), "w") as f:
    f.write("Not a .npy file: calibrate ignores it.\n")
vals = forward(list(mlp), w_mlp)
mm = {k: obs_minmax(v) for k, v in vals.items()}
ma = {k: obs_moving_average(v, 0.25) for k, v in vals.items()}
ma_default = {k: obs_moving_average(v, 0.01) for k, v in vals.items()}
for k in vals:
    assert ma[k] != mm[k] and ma_default[k] != mm[k], k
    # averaging=0.25 on these data is exact arithmetic
    lo, hi = (Fraction(float(f(vals[k][0]))) for f in (np.min, np.max))
    for t in vals[k][1:]:
        lo += (Fraction(float(np.min(t))) - lo) / 4
        hi += (Fraction(float(np.max(t))) - hi) / 4
    assert (lo, hi) == tuple(Fraction(v) for v in ma[k])

lines = [
    "// Generated by gen_calib.py: calibrate with the min-max observer (the",
    "// default) over six samples of %x, given as one batch .npy and as a",
    "// directory of .npy files (batches and single samples, f32 and f64).",
    "// The expected ranges are np.min / np.max over the graph evaluated in",
    "// numpy: %x on the graph argument, none on the constant.",
    "// RUN: dyad-opt %s -p 'calibrate{data=%S/Inputs/mlp.npy}' | FileCheck %s",
    "// RUN: dyad-opt %s -p 'calibrate{data=%S/Inputs/mlp-dir observer=minmax}' | FileCheck %s",
    "// The result reads back equal.",
    "// RUN: dyad-opt %s -p 'calibrate{data=%S/Inputs/mlp.npy}' --verify-roundtrip > %t.dy",
    "// RUN: dyad-opt %t.dy | FileCheck %s",
    "",
] + check_lines("mlp", w_mlp, mm) + graph_text("mlp", w_mlp)
write("minmax.dy", lines)

lines = [
    "// Generated by gen_calib.py: the moving-average observer over the six",
    "// samples of minmax.dy: the first sample's min / max, then",
    "// ema += averaging * (sample's min / max - ema) per sample, in order. The",
    "// directory gives the samples sorted by file name (a, b, c), the same",
    "// order as the batch file. Min-max gives",
    "// " + ", ".join(f"%{k} [{fmt(mm[k][0])}, {fmt(mm[k][1])}]" for k in mm) + ".",
    "// RUN: dyad-opt %s -p 'calibrate{data=%S/Inputs/mlp.npy observer=moving-average averaging=0.25}' | FileCheck %s",
    "// RUN: dyad-opt %s -p 'calibrate{data=%S/Inputs/mlp-dir observer=moving-average averaging=0.25}' | FileCheck %s",
    "// The default averaging constant is 0.01.",
    "// RUN: dyad-opt %s -p 'calibrate{data=%S/Inputs/mlp.npy observer=moving-average}' | FileCheck %s --check-prefix=DEFAULT",
    "// averaging=1 follows the last sample.",
    "// RUN: dyad-opt %s -p 'calibrate{data=%S/Inputs/mlp.npy observer=moving-average averaging=1}' | FileCheck %s --check-prefix=LAST",
    "// Calibrating a calibrated graph replaces its ranges (one range each).",
    "// RUN: dyad-opt %s -p 'calibrate{data=%S/Inputs/mlp.npy}' -o %t.dy",
    "// RUN: dyad-opt %t.dy -p 'calibrate{data=%S/Inputs/mlp.npy observer=moving-average averaging=1}' | FileCheck %s --check-prefix=LAST",
    "",
]
lines += check_lines("mlp", w_mlp, ma)
lines += check_lines("mlp", w_mlp, ma_default, "DEFAULT")
last = {k: obs_moving_average(v, 1.0) for k, v in vals.items()}
assert all(last[k] == obs_minmax(vals[k][-1:]) for k in vals)
lines += check_lines("mlp", w_mlp, last, "LAST")
write("moving-average.dy", lines + graph_text("mlp", w_mlp))

# @perm: the matmul with a signed permutation, which moves and negates
# values without rounding, so that %m and %r keep the data's placement
# inside the histogram bins.
perm = np.array([3, 0, 6, 1, 7, 2, 5, 4])
signs = np.array([1, -1, 1, 1, -1, 1, -1, 1], dtype=np.float32)
w_perm = np.zeros((8, 8), np.float32)
w_perm[np.arange(8), perm] = signs
plus = [i for i in range(8) if signs[i] > 0]   # columns of x that keep sign

# percentile: 1251 samples (10008 values, so that no percentile below lands
# on a whole count, where the rounding of 99.99 could tip it) around 0, and
# one outlier at each end in columns the matmul keeps: +50 and -30.
rng = np.random.default_rng(7)
p = odd(np.clip(rng.normal(0, 1.2, size=(1251, 8)), -3.9, 3.9), 1 / 256)
p[17, plus[0]] = 50.0
p[400, plus[1]] = -30.0
p = p.astype(np.float32)
save("percentile.npy", p)
vals = forward(list(p), w_perm)
runs = []
notes = []
for opts, pct, bins in [("", "99.99", 2048),
                        (" percentile=99.5 bins=16", "99.5", 16),
                        (" percentile=75.25 bins=100", "75.25", 100)]:
    exp = {}
    for k, v in vals.items():
        lo, hi, nplo, nphi, w = obs_percentile(v, pct, bins)
        exp[k] = (float(lo), float(hi))
        # the histogram answer is within a bin of numpy's
        if lo != Fraction(float(np.min(flat(v)))):
            assert abs(float(lo) - nplo) <= w, (k, pct, float(lo), nplo)
        assert abs(float(hi) - nphi) <= w, (k, pct, float(hi), nphi)
        notes.append(f"//   {pct:>5} bins={bins:<4} %{k}: [{float(lo):.9g}, "
                     f"{float(hi):.9g}], np.percentile [{nplo:.9g}, {nphi:.9g}]")
    runs.append((opts, exp))
mm = {k: obs_minmax(v) for k, v in vals.items()}
exp100 = {k: tuple(exact(b) for b in obs_percentile(v, "100", 16)[:2])
          for k, v in vals.items()}
assert exp100 == mm
lines = [
    "// Generated by gen_calib.py: the percentile observer on 10008 values",
    "// around 0 with one outlier at +50 and one at -30 (a histogram of `bins`",
    "// bins over [min, max], linear interpolation in the bin, the lower tail",
    "// only when min < 0). Percentiles that are not binary fractions make the",
    "// answers inexact, so check_ranges.py compares within 1e-9. The",
    "// histogram answers and np.percentile:",
] + notes + [
    "// RUN: rm -rf %t && mkdir -p %t",
]
for i, (opts, exp) in enumerate(runs):
    want = " ".join(f"{k}={exp[k][0]!r}:{exp[k][1]!r}" for k in exp)
    lines.append(f"// RUN: dyad-opt %s -p 'calibrate{{data=%S/Inputs/percentile.npy"
                 f" observer=percentile{opts}}}' -o %t/{i}.dy")
    lines.append(f"// RUN: %python %S/check_ranges.py %t/{i}.dy {want}")
lines += [
    "// The default percentile, 99.99, clips both outliers to the edge of the",
    "// next populated bin:",
    f"// {', '.join(f'%{k} [{runs[0][1][k][0]:.9g}, {runs[0][1][k][1]:.9g}]' for k in vals)}.",
    "// percentile=100 is min-max (here exactly):",
    "// RUN: dyad-opt %s -p 'calibrate{data=%S/Inputs/percentile.npy observer=percentile percentile=100 bins=16}' | FileCheck %s",
    "",
] + check_lines("perm", w_perm, exp100) + graph_text("perm", w_perm)
write("percentile.dy", lines)
for k in ("x", "m"):
    assert runs[0][1][k][1] < 5 and runs[0][1][k][0] > -5  # outliers clipped

# entropy. All data are odd multiples of 1/1024 inside (-16, 16), with
# max |x| = 16 exactly: the |x| histogram of 2048 bins has edges at
# multiples of 1/128. The signed permutation keeps the |x| histogram; +16
# sits in a column it keeps, so %m and %r also have max |x| = 16.
U = 1 / 1024


def entropy_data(seed, n, draw):
    rng = np.random.default_rng(seed)
    a = odd(np.clip(draw(rng, (n, 8)), -15.99, 15.99), U)
    a[n // 3, plus[2]] = 16.0
    return a.astype(np.float32)


def entropy_case(name, data):
    save(name + ".npy", data)
    vals = forward(list(data), w_perm)
    exp, info = {}, []
    for k, v in vals.items():
        lo, hi, i = obs_entropy(v)
        exp[k] = (lo, hi)
        info.append(f"//   %{k}: {i}")
    return vals, exp, info


# cases where dyad agrees (entropy.dy): mass saturated at the ends, and an
# outlier behind a gap of empty bins, which no candidate threshold can clip
# without an infinite divergence.
rng = np.random.default_rng(3)
sat = odd(rng.uniform(-15.99, 15.99, (256, 8)), U)
sat = np.where(rng.uniform(size=sat.shape) < 0.05, np.sign(sat) * 16, sat)
sat[85, plus[2]] = 16.0
sat_vals, sat_exp, sat_info = entropy_case("entropy-saturated",
                                           sat.astype(np.float32))
mm = {k: obs_minmax(v) for k, v in sat_vals.items()}
assert sat_exp == mm
gap_vals, gap_exp, gap_info = entropy_case(
    "entropy-gap", entropy_data(4, 256, lambda r, s: r.uniform(-0.5, 0.5, s)))
mm_gap = {k: obs_minmax(v) for k, v in gap_vals.items()}
assert gap_exp == mm_gap
lines = [
    "// Generated by gen_calib.py: the entropy observer where it keeps the",
    "// whole range. Expected values from a transcription of NVIDIA",
    "// pytorch-quantization's _compute_amax_entropy (first bin := second,",
    "// 128 levels for signed data, 256 for non-negative, candidates from bin",
    "// 128, scipy's KL) on the |x| histogram of 2048 bins.",
    "// 2048 values uniform on (-16, 16), about 5% of them saturated at -16",
    "// or 16: every clipping threshold piles that mass into its last bin and",
    "// diverges more than the full range.",
] + sat_info + [
    "// RUN: dyad-opt %s -p 'calibrate{data=%S/Inputs/entropy-saturated.npy observer=entropy}' | FileCheck %s --check-prefix=SAT",
    "// 2048 values in [-0.5, 0.5] and one at 16: the values fill the first 64",
    "// bins, and every candidate threshold below 16 (from bin 128) leaves the",
    "// last kept bin empty while the clipped value lands in it, an infinite",
    "// divergence, so the outlier is kept.",
] + gap_info + [
    "// RUN: dyad-opt %s -p 'calibrate{data=%S/Inputs/entropy-gap.npy observer=entropy}' | FileCheck %s --check-prefix=GAP",
    "",
] + check_lines("perm", w_perm, sat_exp, "SAT") + check_lines(
    "perm", w_perm, gap_exp, "GAP") + graph_text("perm", w_perm)
write("entropy.dy", lines)

# disagreement cases (entropy-nvidia.dy): a long Laplace tail, and an
# outlier behind a gap with many more values than entropy-gap.
tail_vals, tail_exp, tail_info = entropy_case(
    "entropy-tail", entropy_data(5, 256, lambda r, s: r.laplace(0, 1.0, s)))
for k in tail_vals:
    mn, mx = obs_minmax(tail_vals[k])
    assert tail_exp[k][1] < mx or tail_exp[k][0] > mn  # clipped


def clustered(r, s):
    """[0, 0.5) in bins of 1/128: alternately 60 and 1 values per bin."""
    ks = np.repeat(np.arange(64), np.where(np.arange(64) % 2, 1, 60))
    return (r.choice(ks, size=s) + 0.5) / 128


big_vals, big_exp, big_info = entropy_case(
    "entropy-gap-big", entropy_data(6, 2048, clustered))
mm_big = {k: obs_minmax(v) for k, v in big_vals.items()}
assert big_exp == mm_big
lines = [
    "// Generated by gen_calib.py: the entropy observer on a long tail,",
    "// against a transcription of NVIDIA pytorch-quantization's",
    "// _compute_amax_entropy (see entropy.dy): the bin-edge threshold,",
    "// np.digitize's merging of bins into levels, candidates from bin 128,",
    "// an infinite divergence where Q is 0 and P is not, the last of equal",
    "// minima. (This test found dyad's first entropy observer departing",
    "// from it on each of these points.)",
    "// A Laplace tail (scale 1) clipped to (-16, 16), 2048 values:",
] + tail_info + [
    "// RUN: dyad-opt %s -p 'calibrate{data=%S/Inputs/entropy-tail.npy observer=entropy}' | FileCheck %s --check-prefix=TAIL",
    "// 16384 values in [0, 0.5), 60 and 1 in alternate bins, and one at 16",
    "// (as entropy-gap, with more values and uneven bins):",
] + big_info + [
    "// RUN: dyad-opt %s -p 'calibrate{data=%S/Inputs/entropy-gap-big.npy observer=entropy}' | FileCheck %s --check-prefix=GAP",
    "",
] + check_lines("perm", w_perm, tail_exp, "TAIL") + check_lines(
    "perm", w_perm, big_exp, "GAP") + graph_text("perm", w_perm)
write("entropy-nvidia.dy", lines)

# mse: a Laplace tail on odd multiples of 1/1024 in (-16, 16), and +-16 in
# columns the matmul keeps: min and max are -16 and 16 in %x and %m, so the
# chosen bounds are k/100 * 16 exactly.
rng = np.random.default_rng(8)
q = odd(np.clip(rng.laplace(0, 0.5, size=(2048, 8)), -15.99, 15.99), U)
q[5, plus[0]] = 16.0
q[9, plus[1]] = -16.0
q = q.astype(np.float32)
save("mse.npy", q)
vals = forward(list(q), w_perm)
exp, info = {}, []
for k, v in vals.items():
    lo, hi, i = obs_mse(v)
    exp[k] = (lo, hi)
    info.append(f"//   %{k}: {i}")
    mn, mx = obs_minmax(v)
    assert hi < mx and (lo > mn or mn >= 0)
lines = [
    "// Generated by gen_calib.py: the mse observer on a long Laplace tail",
    "// (16384 values, scale 0.5, from -16 to 16): candidates",
    "// a * [min(0, min), max(0, max)] for a = 1/100 .. 1, the least expected",
    "// squared error over the 2048-bin histogram (squared clipping error",
    "// outside, step^2 / 12 inside, 255 steps):",
] + info + [
    "// RUN: dyad-opt %s -p 'calibrate{data=%S/Inputs/mse.npy observer=mse}' | FileCheck %s",
    "",
] + check_lines("perm", w_perm, exp) + graph_text("perm", w_perm)
write("mse.dy", lines)

# data for errors.dy
save("wrong-shape.npy", np.zeros((2, 7), np.float32))
save("rank1.npy", np.zeros(8, np.float32))
save("int32.npy", np.zeros((2, 8), np.int32))
save("empty-batch.npy", np.zeros((0, 8), np.float32))
print("ok")
