#!/usr/bin/env python3
"""Paired statistics for `RAW=file bench/compare.sh`: is a ratio rubra/redis really off 1.0?

compare.sh runs rubra and redis-server back to back in each round, so the two runs of a
round share the machine's state of the moment. On a VM whose speed drifts by ±25% between
runs, the ratio of the two runs of one round is far steadier than either figure. This script
takes those per-round ratios and prints, per test and metric, their geometric mean with a 90%
confidence interval (Student's t on the logs) and a verdict:
  better  the whole interval is on rubra's good side of 1.0
  worse   the whole interval is on its bad side
  parity  the interval holds 1.0: this many rounds cannot tell the two apart

Usage: bench/paired.py RAW-FILE [A B]   (A/B: the two `who` names, default rubra redis;
       bench/ab.sh passes new old)
RAW lines: who P test round rps cpu p99
"""
import math
import statistics
import sys
from collections import defaultdict

# Student's t, 0.95 quantile (two-sided 90%), by degrees of freedom.
T95 = {1: 6.314, 2: 2.920, 3: 2.353, 4: 2.132, 5: 2.015, 6: 1.943, 7: 1.895, 8: 1.860,
       9: 1.833, 10: 1.812, 11: 1.796, 12: 1.782, 13: 1.771, 14: 1.761, 15: 1.753,
       16: 1.746, 17: 1.740, 18: 1.734, 19: 1.729, 20: 1.725, 25: 1.708, 30: 1.697}


def t95(df):
    """The quantile for df, rounding df down to the table (a wider, safer interval)."""
    if df >= 30:
        return 1.645 if df > 120 else T95[30]
    return T95[max(k for k in T95 if k <= df)]


def interval(ratios):
    """Geometric mean and 90% interval of positive ratios (None when fewer than 2)."""
    logs = [math.log(r) for r in ratios]
    mean = statistics.fmean(logs)
    if len(logs) < 2:
        return math.exp(mean), None, None
    half = t95(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def verdict(lo, hi, higher_is_better):
    if lo is None:
        return "-"
    if lo > 1.0:
        return "better" if higher_is_better else "worse"
    if hi < 1.0:
        return "worse" if higher_is_better else "better"
    return "parity"


def main():
    if len(sys.argv) not in (2, 4):
        sys.exit(__doc__)
    a_name, b_name = sys.argv[2:4] if len(sys.argv) == 4 else ("rubra", "redis")
    runs = defaultdict(dict)  # (P, test) -> {(who, round): (rps, cpu, p99)}
    order = []
    with open(sys.argv[1]) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 7:
                continue
            who, pipe, test, rnd = parts[:4]
            try:
                values = tuple(float(x) for x in parts[4:])
            except ValueError:
                continue
            if (pipe, test) not in runs:
                order.append((pipe, test))
            runs[(pipe, test)][(who, rnd)] = values

    metrics = (("rps", 0, True), ("cpu", 1, False), ("p99", 2, False))
    print(f"{'workload':<16} " + " ".join(f"{m + ' ratio [90% CI]':<27}" for m, _, _ in metrics)
          + " rounds")
    for key in order:
        cells = runs[key]
        rounds = sorted({r for (_, r) in cells}, key=int)
        paired = [(cells[(a_name, r)], cells[(b_name, r)]) for r in rounds
                  if (a_name, r) in cells and (b_name, r) in cells]
        out = []
        for _, i, higher in metrics:
            ratios = [a[i] / b[i] for a, b in paired if a[i] > 0 and b[i] > 0]
            if not ratios:
                out.append(f"{'n/a':<27}")
                continue
            mean, lo, hi = interval(ratios)
            span = f"[{lo:.2f},{hi:.2f}]" if lo is not None else ""
            out.append(f"{mean:.3f} {span:<11} {verdict(lo, hi, higher):<7}")
        print(f"{key[0] + ' ' + key[1]:<16} " + " ".join(out) + f" {len(paired)}")
    print(f"(geometric mean of per-round ratios {a_name}/{b_name}; rps: higher is better, cpu and"
          " p99: lower is better)")


if __name__ == "__main__":
    main()
