"""Compares the `range = [lo, hi]` attributes of a printed .dy graph with
expected values, within a relative tolerance. Standard library only (lit's
%python has no numpy).

usage: check_ranges.py FILE [--rtol R] NAME=LO:HI...

Every listed value must carry a range (a graph argument's argument
attribute, or its defining op's attribute) within R of the expected bounds
(|got - want| <= R * max(1, |want|)), and no other value may carry one."""
import re
import sys


def main(argv):
    rtol = 1e-9
    path = argv[1]
    want = {}
    args = argv[2:]
    while args:
        a = args.pop(0)
        if a == "--rtol":
            rtol = float(args.pop(0))
            continue
        name, bounds = a.split("=", 1)
        lo, hi = bounds.split(":")
        want[name] = (float(lo), float(hi))
    text = open(path).read()
    got = {}
    num = r"([-+0-9.eE]+|-?inf|-?nan)"
    rng = r"range = \[" + num + ", " + num + r"\]"
    for m in re.finditer(r"%([\w.]+): tensor<[^>]*> \{" + rng + r"\}", text):
        got[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    for m in re.finditer(r"(?m)^\s*%([\w.]+) = [^\n]*?" + rng, text):
        got[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    bad = []
    for name in sorted(set(got) - set(want)):
        bad.append(f"%{name}: unexpected range {list(got[name])}")
    for name, (lo, hi) in want.items():
        if name not in got:
            bad.append(f"%{name}: no range (expected [{lo!r}, {hi!r}])")
            continue
        g = got[name]
        for w, v in zip((lo, hi), g):
            if not abs(v - w) <= rtol * max(1.0, abs(w)):
                bad.append(f"%{name}: range {list(g)}, expected "
                           f"[{lo!r}, {hi!r}] (rtol {rtol})")
                break
    for b in bad:
        print("check_ranges: " + b)
    if not bad:
        print(f"check_ranges: {len(want)} ranges ok")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
