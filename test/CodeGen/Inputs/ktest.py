#!/usr/bin/env python3
"""Runs dyad's random kernel tester in batches.

Each batch is one `dyad-ktest` graph (a seed, up to --batch cases), compiled
for the target given after `--`, linked with its harness by --cc and run by
each --run command (empty: natively). Every run must report all of its cases
bit-exact with the interpreter. The kernels the cases got are summed and
printed. Files of a passing batch are removed; a failing batch's are kept
(PREFIX.dy reproduces it with `dyad run` and `dyad compile`).
"""
import argparse
import os
import re
import shlex
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, required=True)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--cc", required=True)
    ap.add_argument("--run", action="append", default=[])
    ap.add_argument("target", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    target = [t for t in a.target if t != "--"]
    runs = a.run or [""]
    os.makedirs(a.dir, exist_ok=True)
    done, seed, kernels = 0, a.seed, {}
    while done < a.cases:
        n = min(a.batch, a.cases - done)
        prefix = os.path.join(a.dir, "k%d" % seed)
        gen = subprocess.run(
            ["dyad-ktest", "--seed=%d" % seed, "--cases=%d" % n, "-o", prefix]
            + target, capture_output=True, text=True)
        if gen.returncode != 0:
            sys.stdout.write(gen.stdout + gen.stderr)
            print("ktest: dyad-ktest failed for seed %d" % seed)
            return 1
        for line in gen.stdout.splitlines():
            if line.startswith("kernels:"):
                w = line.split()[1:]
                for k, c in zip(w[0::2], w[1::2]):
                    kernels[k] = kernels.get(k, 0) + int(c)
        exe = prefix + ".exe"
        subprocess.run(shlex.split(a.cc) + [prefix + "_main.c", prefix + ".o",
                                            "-o", exe], check=True)
        want = "%d cases: %d bit-exact, 0 differ" % (n, n)
        for r in runs:
            out = subprocess.run(shlex.split(r) + [exe], capture_output=True,
                                 text=True)
            last = out.stdout.strip().splitlines()[-1:] or [""]
            if out.returncode != 0 or last[0] != want:
                sys.stdout.write(out.stdout + out.stderr)
                print("ktest: seed %d failed under '%s' (exit %d); the cases "
                      "are in %s.dy" % (seed, r, out.returncode, prefix))
                return 1
        for f in (prefix + ".dy", prefix + ".o", prefix + ".h",
                  prefix + "_main.c", exe):
            os.remove(f)
        done += n
        seed += 1
    print("ktest: %d cases bit-exact under %d run configuration(s): %s"
          % (done, len(runs), " ".join(runs) or "native"))
    print("kernels: " + " ".join("%s %d" % kv for kv in sorted(kernels.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
