# Counts the stored 1s of %w_q in a printed graph and checks the count is
# within 4 standard deviations of a binomial(n, p) mean.
import re
import sys

n, p = int(sys.argv[1]), float(sys.argv[2])
text = sys.stdin.read()
line = next(l for l in text.splitlines() if "%w_q = const" in l)
body = line.split("dense<", 1)[1].split(">", 1)[0]
vals = [int(v) for v in re.findall(r"-?\d+", body)]
ones = vals[1:].count(1)
zeros = vals[1:].count(0)
mean, sd = n * p, (n * p * (1 - p)) ** 0.5
ok = ones + zeros == n and abs(ones - mean) <= 4 * sd
print("ones=%d zeros=%d mean=%.1f sd=%.1f %s" % (ones, zeros, mean, sd,
                                                 "OK" if ok else "BIASED"))
sys.exit(0 if ok else 1)
